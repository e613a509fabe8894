// Process helpers for the node tests, the same approach as tests/python/helpers.py: the
// binary from SMOOTH_MCP_BIN (default target/debug/smooth-mcp), a free loopback port, and
// readiness = `GET /healthz` answering 200 (no fixed sleeps).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.SMOOTH_MCP_BIN ?? resolve(ROOT, 'target', 'debug', 'smooth-mcp');
const STARTUP_MS = 20_000;

if (!existsSync(BIN)) {
  throw new Error(`${BIN} does not exist: run \`cargo build -p smooth-mcp\` first or set SMOOTH_MCP_BIN`);
}

/** The flags every test server gets: the embedded mock, polled fast so tasks end quickly. */
export const MOCK_FLAGS = ['--mock', '--poll-interval', '0.1', '--heartbeat-seconds', '0.2'];

export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts `smooth-mcp --transport http` on a free port; resolves once /healthz answers 200.
 * Returns the MCP endpoint URL and `stop()`, which sends SIGTERM and waits for the exit.
 */
export async function startHttpServer(extraArgs = []) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(
    BIN,
    ['--transport', 'http', '--listen', `127.0.0.1:${port}`, ...MOCK_FLAGS, ...extraArgs],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
  );
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(proc, 'exit');
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  };
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`smooth-mcp exited early with ${proc.exitCode}:\n${stderr}`);
    }
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${base}/healthz did not come up:\n${stderr}`);
    }
    await delay(50); // polling interval while waiting for the port, as helpers.py does
  }
  return { url: new URL(`${base}/mcp`), stop, stderr: () => stderr };
}

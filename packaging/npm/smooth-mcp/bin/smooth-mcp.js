#!/usr/bin/env node
// Runs the smooth-mcp binary that npm installed from this package's optionalDependencies.
//
// npm installs only the @smooth-mcp/<platform>-<arch> package whose `os` and `cpu` match the
// machine (the esbuild/biome pattern), so nothing is downloaded at install time. This script
// finds that package's binary and runs it as if it had been started directly: same arguments,
// same stdin/stdout/stderr (MCP's JSON-RPC flows straight through), same exit code, and the
// signals a host sends to stop the server reach the server.
"use strict";

const { spawn } = require("node:child_process");
const { constants } = require("node:os");

// One package per `${process.platform}-${process.arch}`, named `@smooth-mcp/<that>`: the
// platforms are the ones this package's optionalDependencies name (the only list to keep).
const SCOPE = "@smooth-mcp/";
const PLATFORMS = Object.keys(require("../package.json").optionalDependencies)
  .filter((name) => name.startsWith(SCOPE))
  .map((name) => name.slice(SCOPE.length));

// Written to stderr: stdout belongs to the MCP client.
function fail(message) {
  process.stderr.write(`smooth-mcp: ${message}\n`);
  process.exit(1);
}

function binaryPath() {
  const key = `${process.platform}-${process.arch}`;
  const pkg = SCOPE + key;
  if (!PLATFORMS.includes(key)) {
    fail(
      `no prebuilt binary for ${key} (there are binaries for ${PLATFORMS.join(", ")}). ` +
        "Build it from source instead: cargo install --git https://github.com/smooth-mcp/smooth-mcp smooth-mcp",
    );
  }
  const exe = process.platform === "win32" ? "smooth-mcp.exe" : "smooth-mcp";
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch {
    return fail(
      `the package ${pkg}, which holds the binary for ${key}, is not installed. npm installs it ` +
        "with smooth-mcp unless optional dependencies are omitted (--omit=optional, " +
        "--no-optional): reinstall smooth-mcp without that option.",
    );
  }
}

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit", windowsHide: true });

// A host stops a stdio server by closing its stdin or by signalling the process it started,
// which is this one: hand the signal on and let the server shut down in its own way.
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"];
for (const signal of FORWARDED) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
    }
  });
}

child.on("error", (err) => fail(`could not start ${child.spawnfile}: ${err.message}`));

child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so the host sees what it would have seen without this launcher.
    for (const s of FORWARDED) {
      process.removeAllListeners(s);
    }
    process.kill(process.pid, signal);
    // Reached only for a signal that does not end a Node process by default (SIGPIPE): the
    // shell's convention for "ended by a signal".
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
  process.exit(code ?? 1);
});

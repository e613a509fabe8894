// The strict client most JavaScript hosts embed: the TypeScript MCP SDK 1.x (pinned in
// package.json). Its `listTools()` validates the whole list against its own schema and drops
// everything on one bad tool; its `callTool()` checks `structuredContent` against the tool's
// `outputSchema`. On top of that every schema is compiled, and every structured result
// validated, with Ajv in JSON Schema 2020-12 mode (what MCP 2025-11-25 specifies).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import { BIN, MOCK_FLAGS, startHttpServer } from './helpers.mjs';

const TRANSPORTS = {
  async stdio() {
    const downloads = mkdtempSync(join(tmpdir(), 'smooth-mcp-node-'));
    const transport = new StdioClientTransport({
      command: BIN,
      args: [...MOCK_FLAGS, '--downloads-dir', downloads],
      stderr: 'ignore',
    });
    return { transport, stop: async () => rmSync(downloads, { recursive: true, force: true }) };
  },
  async http() {
    const server = await startHttpServer();
    return { transport: new StreamableHTTPClientTransport(server.url), stop: server.stop };
  },
};

/** Ajv 2020-12 in strict mode: unknown keywords, formats or bad schema shapes are errors. */
function strictAjv() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/**
 * The SDK's `listTools()` (which also primes the SDK's own output validation in `callTool`),
 * then every input and output schema compiled by Ajv. Resolves to the tools and a map of
 * tool name -> Ajv validator of its outputSchema.
 */
async function listAndCompile(client) {
  const { tools } = await client.listTools();
  const ajv = strictAjv();
  const outputValidators = new Map();
  for (const tool of tools) {
    try {
      ajv.compile(tool.inputSchema);
      if (tool.outputSchema) outputValidators.set(tool.name, ajv.compile(tool.outputSchema));
    } catch (e) {
      throw new Error(`${tool.name}: Ajv 2020-12 (strict) rejects a schema: ${e.message}`);
    }
  }
  return { tools, outputValidators };
}

test('with --toolsets all, every tool passes listTools and compiles as 2020-12', async () => {
  const client = new Client({ name: 'smooth-mcp-node-tests', version: '0.0.0' });
  await client.connect(new StdioClientTransport({ command: BIN, args: [...MOCK_FLAGS, '--toolsets', 'all'], stderr: 'ignore' }));
  try {
    const { tools } = await listAndCompile(client);
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('upload_file'), `the files toolset is missing from ${names}`);
  } finally {
    await client.close();
  }
});

for (const [name, connect] of Object.entries(TRANSPORTS)) {
  describe(`TypeScript SDK over ${name}`, () => {
    let client;
    let stop;
    let listed;

    /** The tools, listed once per client as a host does before any call. */
    function tools() {
      listed ??= listAndCompile(client);
      return listed;
    }

    before(async () => {
      const conn = await connect();
      stop = conn.stop;
      client = new Client({ name: 'smooth-mcp-node-tests', version: '0.0.0' });
      await client.connect(conn.transport);
    });

    after(async () => {
      await client?.close();
      await stop?.();
    });

    /** Calls a tool (the SDK checks structuredContent itself), then validates it with Ajv. */
    async function call(tool, args) {
      const { outputValidators } = await tools();
      const result = await client.callTool({ name: tool, arguments: args });
      assert.notEqual(result.isError, true, `${tool} failed: ${JSON.stringify(result.content)}`);
      const validate = outputValidators.get(tool);
      assert.ok(validate, `${tool} declares no outputSchema`);
      assert.ok(result.structuredContent, `${tool} returned no structuredContent`);
      assert.ok(
        validate(result.structuredContent),
        `${tool} result does not match its outputSchema: ${JSON.stringify(validate.errors)}\n` +
          JSON.stringify(result.structuredContent),
      );
      return result.structuredContent;
    }

    test('listTools passes the SDK validation and every schema compiles as 2020-12', async () => {
      const names = (await tools()).tools.map((t) => t.name);
      for (const expected of ['run_browser_task', 'get_task', 'cancel_task', 'open_session', 'session_action']) {
        assert.ok(names.includes(expected), `${expected} missing from ${names}`);
      }
    });

    test('a task runs to its result', async () => {
      const done = await call('run_browser_task', {
        task: 'Find the title of https://example.com [mock:duration=300ms]',
        wait_seconds: 20,
      });
      assert.equal(done.status, 'done', JSON.stringify(done));
      assert.ok(done.task_id);
      assert.ok(done.output);
    });

    test("a task's files: links, a picture and an inline CSV the SDK accepts", async () => {
      const { outputValidators } = await tools();
      // callTool validates every content item (image, resource_link, embedded resource).
      const result = await client.callTool({
        name: 'run_browser_task',
        arguments: { task: 'Get the invoice [mock:download]', screenshot: true, wait_seconds: 20 },
      });
      assert.notEqual(result.isError, true, JSON.stringify(result.content));
      const validate = outputValidators.get('run_browser_task');
      assert.ok(validate(result.structuredContent), JSON.stringify(validate.errors));
      const names = result.structuredContent.files.map((f) => f.name).sort();
      assert.deepEqual(names, ['invoice.pdf', 'report.csv', 'screenshot.png']);
      const kinds = result.content.map((c) => c.type);
      assert.equal(kinds.filter((k) => k === 'image').length, 1, kinds.join());
      const linked = result.content.filter((c) => c.type === 'resource_link').map((c) => c.uri);
      for (const f of result.structuredContent.files) assert.ok(linked.includes(f.uri), f.uri);
      const csv = result.content.find((c) => c.type === 'resource');
      assert.match(csv.resource.text, /,/);
      assert.equal(csv.resource.mimeType, 'text/csv');
    });

    test('a session: open, goto, extract, evaluate_js, close', async () => {
      const opened = await call('open_session', { url: 'https://example.com' });
      const id = opened.session_id;
      assert.equal(typeof id, 'string', JSON.stringify(opened));
      const actions = [
        { action: 'goto', url: 'https://example.com/a' },
        {
          action: 'extract',
          schema: { type: 'object', properties: { title: { type: 'string' } } },
          prompt: 'the page title',
        },
        { action: 'evaluate_js', js: '(args) => args.a + args.b', args: { a: 1, b: 2 } },
        { action: 'close' },
      ];
      for (const action of actions) {
        const r = await call('session_action', { session_id: id, ...action });
        assert.equal(r.status, 'done', `${action.action}: ${JSON.stringify(r)}`);
      }
    });
  });
}

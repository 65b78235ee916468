// Drives a Switchboard gateway with the official MCP TypeScript SDK client
// and prints what happened as one JSON object on stdout.
//
//   node client.mjs MCP_URL [MCP_URL...]
//
// With several URLs, each HTTP request goes to the next URL in turn, so
// that one session's requests are spread across gateway replicas.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const bases = process.argv.slice(2).map((u) => new URL(u));
if (bases.length === 0) {
  console.error('usage: node client.mjs MCP_URL [MCP_URL...]');
  process.exit(2);
}

// requests records every request: which replica, method, session, status.
const requests = [];
let next = 0;

// spread is the transport's fetch: it rewrites each request to the next
// replica, keeping the path.
async function spread(input, init) {
  const base = bases[next++ % bases.length];
  const url = new URL(input instanceof Request ? input.url : input);
  url.protocol = base.protocol;
  url.host = base.host;
  const sessionId = new Headers(init?.headers).get('mcp-session-id') ?? '';
  const rec = { host: base.host, method: init?.method ?? 'GET', sessionId, status: 0 };
  requests.push(rec);
  const resp = await fetch(url, init);
  rec.status = resp.status;
  return resp;
}

// call runs one tools/call and keeps the parts the test checks.
async function call(client, name, args) {
  const res = await client.callTool({ name, arguments: args });
  return {
    text: res.content.filter((c) => c.type === 'text').map((c) => c.text.trim()),
    structuredContent: res.structuredContent ?? null,
    isError: res.isError ?? false,
  };
}

async function main() {
  const transport = new StreamableHTTPClientTransport(bases[0], { fetch: spread });
  const client = new Client({ name: 'switchboard-e2e-ts', version: '1.0.0' });
  await client.connect(transport);
  const out = {
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    serverInfo: client.getServerVersion() ?? null,
  };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = await call(client, 'demo__echo', { text: 'hello from ts' });
  out.add = await call(client, 'demo__add', { a: 2, b: 40 });
  out.fail = await call(client, 'demo__fail', { message: 'boom' });
  await transport.terminateSession();
  out.terminated = transport.sessionId === undefined;
  await client.close();
  out.requests = requests;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

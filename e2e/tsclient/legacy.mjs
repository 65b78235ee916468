// Drives a Switchboard gateway over the HTTP+SSE transport of MCP
// 2024-11-05 with the official TypeScript SDK's SSEClientTransport, and
// prints what happened as one JSON object on stdout.
//
//   node legacy.mjs SSE_URL POST_BASE_URL
//
// The SSE stream (GET) goes to SSE_URL; every POST goes to the replica at
// POST_BASE_URL instead, keeping the path and query, so that the session
// is served by two gateway replicas.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

if (process.argv.length !== 4) {
  console.error('usage: node legacy.mjs SSE_URL POST_BASE_URL');
  process.exit(2);
}
const sseURL = new URL(process.argv[2]);
const postBase = new URL(process.argv[3]);

// requests records every request: which replica, method, path, status.
const requests = [];
// posts holds every POST's fetch. An answer can arrive on the SSE stream
// before the 202 of the POST that carried the request, so main waits for
// them all before it closes the transport, which would abort them.
const posts = [];

// route is the transport's fetch: POSTs go to the other replica.
async function route(input, init) {
  const url = new URL(input instanceof Request ? input.url : input);
  const method = init?.method ?? 'GET';
  if (method === 'POST') {
    url.protocol = postBase.protocol;
    url.host = postBase.host;
  }
  const rec = { host: url.host, method, path: url.pathname, status: 0 };
  requests.push(rec);
  const pending = fetch(url, init);
  if (method === 'POST') {
    posts.push(pending.catch(() => {}));
  }
  const resp = await pending;
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
  const transport = new SSEClientTransport(sseURL, { fetch: route });
  const client = new Client({ name: 'switchboard-e2e-legacy', version: '1.0.0' });
  await client.connect(transport);
  const out = {
    endpoint: transport._endpoint?.pathname ?? null,
    sessionId: transport._endpoint?.searchParams.get('sessionId') ?? null,
    protocolVersion: transport._protocolVersion ?? null,
    serverInfo: client.getServerVersion() ?? null,
  };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  const [echo, add] = await Promise.all([
    call(client, 'demo__echo', { text: 'hello over sse' }),
    call(client, 'demo__add', { a: 2, b: 40 }),
  ]);
  Object.assign(out, { echo, add });
  out.fail = await call(client, 'demo__fail', { message: 'boom' });
  await Promise.all(posts);
  await client.close();
  out.requests = requests;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

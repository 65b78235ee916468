// Drives every MCP 2025-11-25 server feature of a Switchboard endpoint
// with the official MCP TypeScript SDK client, and prints what happened.
//
//   node features.mjs MCP_URL
//
// Each step's outcome goes into one JSON object, printed as the last line
// on stdout; a step that throws records {"error": "..."} and the next one
// runs. Before the list_changed step the script prints
// {"await":"provider"} and waits for a line on stdin: the test starts a
// provider meanwhile.
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const url = new URL(process.argv[2] ?? '');
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

// heard collects the notifications the client's handlers get.
const heard = { levels: [], updated: [], toolsChanged: 0 };
const transportErrors = [];

// waitFor polls cond every 10ms until it holds or 20s pass.
async function waitFor(what, cond) {
  const deadline = Date.now() + 20000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`waited 20s for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// all follows nextCursor until the last page and returns every item.
async function all(list, member) {
  const items = [];
  let cursor;
  do {
    const page = await list(cursor === undefined ? {} : { cursor });
    items.push(...page[member]);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return items;
}

const texts = (res) => res.content.filter((c) => c.type === 'text').map((c) => c.text);

// head returns the first bytes of base64 data as text, to tell formats.
const head = (b64) => Buffer.from(b64, 'base64').subarray(0, 4).toString('latin1');

function newClient() {
  const client = new Client(
    { name: 'switchboard-e2e-ts', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {}, roots: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: 'assistant',
    model: 'e2e-model',
    content: { type: 'text', text: `echo: ${req.params.messages[0].content.text}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async (req) =>
    req.params.message === 'Who are you?'
      ? { action: 'accept', content: { username: 'ts', email: 'ts@example.com' } }
      : { action: 'decline' },
  );
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: 'file:///ts/project', name: 'project' }],
  }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    heard.levels.push(n.params.level);
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    heard.updated.push(n.params.uri);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    heard.toolsChanged++;
  });
  return client;
}

const steps = {
  async tools(client) {
    const tools = await all((p) => client.listTools(p), 'tools');
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    return {
      names: tools.map((t) => t.name),
      echo: { title: byName.demo__echo?.title, annotations: byName.demo__echo?.annotations },
      metaIcons: byName.demo__meta?.icons,
      addOutputSchema: byName.demo__add?.outputSchema !== undefined,
    };
  },

  async content(client) {
    const call = (name, args = {}) => client.callTool({ name, arguments: args });
    const image = (await call('test_image_content')).content[0];
    const audio = (await call('test_audio_content')).content[0];
    const link = (await call('demo__link', { uri: 'test://static-text' })).content[0];
    const embedded = (await call('test_embedded_resource')).content[0];
    const add = await call('demo__add', { a: 2, b: 40 });
    const meta = await client.callTool({
      name: 'demo__meta',
      arguments: {},
      _meta: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    return {
      image: { type: image.type, mimeType: image.mimeType, head: head(image.data) },
      audio: { type: audio.type, mimeType: audio.mimeType, head: head(audio.data) },
      link,
      embedded,
      add: { text: texts(add), structuredContent: add.structuredContent },
      meta: { text: texts(meta), resultMeta: meta._meta },
    };
  },

  async resources(client) {
    const resources = await all((p) => client.listResources(p), 'resources');
    const templates = await all((p) => client.listResourceTemplates(p), 'resourceTemplates');
    const text = await client.readResource({ uri: 'test://static-text' });
    const blob = await client.readResource({ uri: 'test://static-binary' });
    const templated = await client.readResource({ uri: 'test://template/7/data' });
    return {
      uris: resources.map((r) => r.uri),
      templates: templates.map((t) => t.uriTemplate),
      text: text.contents[0].text,
      blob: { mimeType: blob.contents[0].mimeType, head: head(blob.contents[0].blob) },
      templated: templated.contents[0].text,
    };
  },

  async prompts(client) {
    const prompts = await all((p) => client.listPrompts(p), 'prompts');
    const got = await client.getPrompt({
      name: 'test_prompt_with_arguments',
      arguments: { arg1: 'a', arg2: 'b' },
    });
    const image = await client.getPrompt({ name: 'test_prompt_with_image' });
    const promptRef = { type: 'ref/prompt', name: 'test_prompt_with_arguments' };
    const resourceRef = { type: 'ref/resource', uri: 'test://template/{id}/data' };
    const c1 = await client.complete({ ref: promptRef, argument: { name: 'arg1', value: 'par' } });
    const c2 = await client.complete({ ref: resourceRef, argument: { name: 'id', value: '12' } });
    return {
      names: prompts.map((p) => p.name),
      text: got.messages.map((m) => m.content.text),
      imageTypes: image.messages.map((m) => m.content.type),
      promptCompletion: c1.completion.values,
      templateCompletion: c2.completion.values,
    };
  },

  async logging(client) {
    await client.setLoggingLevel('error');
    heard.levels.length = 0;
    const res = await client.callTool({ name: 'demo__log', arguments: {} });
    await waitFor('four log messages', () => heard.levels.length >= 4);
    return { text: texts(res), levels: [...heard.levels] };
  },

  async progress(client) {
    const seen = [];
    const res = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
      onprogress: (p) => seen.push(p),
    });
    return { text: texts(res), progress: seen };
  },

  async clientRequests(client) {
    const call = async (name, args = {}) => texts(await client.callTool({ name, arguments: args }));
    return {
      sampling: await call('test_sampling', { prompt: 'What is 2+2?' }),
      elicitation: await call('test_elicitation', { message: 'Who are you?' }),
      declined: await call('test_elicitation_sep1330_enums'),
      roots: await call('demo__roots'),
    };
  },

  async cancel(client) {
    const key = `ts-${Date.now()}`;
    const ac = new AbortController();
    let aborted;
    try {
      await client.callTool({ name: 'demo__count', arguments: { steps: 1000, ms: 20, key } },
        undefined, { signal: ac.signal, onprogress: () => ac.abort('the test cancels') });
    } catch (err) {
      aborted = String(err);
    }
    let seen;
    await waitFor('the provider to see the cancellation', async () => {
      const res = await client.callTool({ name: 'demo__cancelled', arguments: { key } });
      seen = res.structuredContent;
      return seen?.cancelled === true;
    });
    return { aborted, seen };
  },

  async subscribe(client) {
    await client.subscribeResource({ uri: 'test://static-text' });
    // The standalone stream opens in the background after initialization;
    // touch until an update comes through it.
    await waitFor('an update of test://static-text', async () => {
      await client.callTool({ name: 'demo__touch', arguments: { uri: 'test://static-text' } });
      await new Promise((r) => setTimeout(r, 50));
      return heard.updated.includes('test://static-text');
    });
    await client.unsubscribeResource({ uri: 'test://static-text' });
    return { updated: [...new Set(heard.updated)] };
  },

  async resumeCut(client) {
    const seen = [];
    const res = await client.callTool({ name: 'demo__count', arguments: { steps: 4, ms: 50 } },
      undefined, { onprogress: (p) => seen.push(p.progress) });
    return { text: texts(res), progress: seen };
  },

  async resumeClosed(client) {
    return { text: texts(await client.callTool({ name: 'test_reconnection', arguments: {} })) };
  },

  async listChanged(client) {
    const before = heard.toolsChanged;
    process.stdout.write(JSON.stringify({ await: 'provider' }) + '\n');
    await lines.next();
    await waitFor('tools/list_changed', () => heard.toolsChanged > before);
    const tools = await all((p) => client.listTools(p), 'tools');
    return { extra: tools.map((t) => t.name).filter((n) => n.startsWith('extra__')) };
  },
};

async function main() {
  const transport = new StreamableHTTPClientTransport(url);
  const client = newClient();
  client.onerror = (err) => transportErrors.push(String(err));
  await client.connect(transport);
  const out = { protocolVersion: transport.protocolVersion, sessionId: transport.sessionId };
  for (const [name, step] of Object.entries(steps)) {
    try {
      out[name] = await step(client);
    } catch (err) {
      out[name] = { error: err?.stack ?? String(err) };
    }
  }
  await transport.terminateSession();
  await client.close();
  out.transportErrors = transportErrors;
  stdin.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

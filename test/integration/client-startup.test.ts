// The request sequences real clients send when they start and take a first prompt, replayed
// against a gateway with two mock models, an API key and listen.ollamaPort, as each client's own
// code or documentation describes them (the source is named in each test). Each step asserts what
// that client reads from the answer, so a shape it cannot parse fails here.

import { request as undiciRequest, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, baseYaml, cleanupAll, mockOf, processModel, startGateway, type TestGateway } from './helpers.js';

const KEY = 'sk-gateway-test-key';
let t: TestGateway;
let ollamaBase: string;

beforeAll(async () => {
  const yaml = baseYaml(
    [
      'models:',
      processModel('coder', { knobs: ['--max-model-len', '8192', '--enable-auto-tool-choice', '--tool-call-parser', 'hermes'] }),
      processModel('chat', { extra: 'aliases: ["chat-alias"]' }),
    ].join('\n'),
  )
    .replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }')
    .replace(/auth: \{ adminToken: ([^ ]+) \}/, `auth: { adminToken: $1, apiKeys: ["${KEY}"] }`);
  t = await startGateway(yaml);
  ollamaBase = `http://127.0.0.1:${t.gw.ollamaPort}`;
});
afterAll(cleanupAll);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const res = await undiciRequest(base + path, {
    method: method as Dispatcher.HttpMethod,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: agent,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** The `data:` payloads of an SSE body, parsed (`[DONE]` left out). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function sseData(text: string): Array<Record<string, any>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)));
}

/** The `event:` names of an SSE body, in order. */
const sseEvents = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('event: '))
    .map((l) => l.slice(7));

const ndjson = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));

async function lastReceived(model: string) {
  const rec = (await (await mockOf(t, model)).received()) as Array<{ path: string; headers: Record<string, string>; body: string }>;
  return rec.at(-1)!;
}

describe('client start-up sequences', () => {
  it('Claude Code (ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN or ANTHROPIC_API_KEY)', async () => {
    // code.claude.com/docs/en/llm-gateway-protocol: /v1/messages and (optionally)
    // /v1/messages/count_tokens, anthropic-beta and anthropic-version forwarded unchanged;
    // GET /v1/models only with CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1. Its bundled SDK adds
    // ?beta=true (BerriAI/litellm#13252: "POST /v1/messages/count_tokens?beta=true" from claude-cli).
    const headers = {
      'x-api-key': KEY,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
      'user-agent': 'claude-cli/2.0.0 (external, cli)',
      'x-app': 'cli',
    };
    const models = await send(t.url, 'GET', '/v1/models', headers);
    expect(models.status).toBe(200);
    expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(['coder', 'chat']);

    const messages = [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }];
    const count = await send(t.url, 'POST', '/v1/messages/count_tokens?beta=true', headers, { model: 'coder', messages });
    expect(count.status).toBe(200);
    expect(count.json.input_tokens).toBeGreaterThan(0);

    const stream = await send(t.url, 'POST', '/v1/messages?beta=true', headers, {
      model: 'coder',
      max_tokens: 64,
      stream: true,
      system: [{ type: 'text', text: 'You are Claude Code.' }],
      messages,
      metadata: { user_id: 'u' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(sseEvents(stream.text)[0]).toBe('message_start');
    expect(sseEvents(stream.text).at(-1)).toBe('message_stop');
    const upstream = await lastReceived('coder');
    expect(upstream.path).toBe('/v1/messages?beta=true');
    expect(upstream.headers['anthropic-beta']).toBe(headers['anthropic-beta']);
    expect(upstream.headers['anthropic-version']).toBe('2023-06-01');
    expect(upstream.headers['x-api-key']).toBeUndefined(); // the client's credential stays at the gateway

    // A wrong key is an Anthropic-shaped 401 the CLI can show.
    const denied = await send(t.url, 'POST', '/v1/messages?beta=true', { ...headers, 'x-api-key': 'wrong' }, { model: 'coder' });
    expect(denied.status).toBe(401);
    expect(denied.json).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', details: { error_code: 'invalid_api_key' } },
    });
  });

  it('Codex CLI (model_providers base_url http://127.0.0.1:8080/v1, wire_api "responses")', async () => {
    // farion1231/cc-switch#7598 (captured traffic): "GET /v1/models?client_version=0.155.1" at
    // start-up, then the turn as a streamed POST /v1/responses (store false) with originator and
    // session headers (Wei-Shaw/claude-relay-service#1251). Codex reads its own catalogue shape
    // from /models; with an OpenAI list it keeps its bundled catalogue (openai/codex#37393), so
    // the model is named in config.toml.
    const headers = { authorization: `Bearer ${KEY}`, originator: 'codex_cli_rs', session_id: 'sess-1', version: '0.155.1' };
    const models = await send(t.url, 'GET', '/v1/models?client_version=0.155.1', headers);
    expect(models.status).toBe(200);
    expect(models.json.object).toBe('list');

    const turn = await send(t.url, 'POST', '/v1/responses', headers, {
      model: 'chat-alias',
      instructions: 'You are Codex.',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
      tools: [],
      tool_choice: 'auto',
      parallel_tool_calls: false,
      store: false,
      stream: true,
      include: [],
      prompt_cache_key: 'sess-1',
    });
    expect(turn.status).toBe(200);
    const events = sseData(turn.text);
    expect(events[0]).toMatchObject({ type: 'response.created', sequence_number: 0 });
    expect(events.at(-1)).toMatchObject({ type: 'response.completed', response: { status: 'completed', model: 'chat' } });
    expect(events.some((e) => e.type === 'response.output_text.delta')).toBe(true);
    expect((await lastReceived('chat')).headers.originator).toBe('codex_cli_rs');
  });

  it('Continue (provider "vllm", apiBase http://127.0.0.1:8080/v1)', async () => {
    // continuedev/continue core/llm/llms/Vllm.ts: autodetect GET {apiBase}/models and read
    // data[0].id and data[0].max_model_len; chat streamed through /chat/completions (streamSse);
    // rerank through the OpenAI adapter's /rerank (vLLM's results[]); embeddings /embeddings.
    const headers = { authorization: `Bearer ${KEY}` };
    const models = await send(t.url, 'GET', '/v1/models', headers);
    expect(models.status).toBe(200);
    expect(models.json.data[0]).toMatchObject({ id: 'coder', max_model_len: 8192 });

    const chat = await send(t.url, 'POST', '/v1/chat/completions', headers, {
      model: 'coder',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      max_tokens: 32,
    });
    expect(chat.status).toBe(200);
    const chunks = sseData(chat.text);
    expect(chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('')).not.toBe('');
    expect(chat.text.trimEnd().endsWith('data: [DONE]')).toBe(true);

    const rerank = await send(t.url, 'POST', '/v1/rerank', headers, { model: 'coder', query: 'q', documents: ['a', 'b'] });
    expect(rerank.status).toBe(200);
    expect(rerank.json.results.map((r: { index: number }) => r.index).sort()).toEqual([0, 1]);
    expect(typeof rerank.json.results[0].relevance_score).toBe('number');

    const embed = await send(t.url, 'POST', '/v1/embeddings', headers, { model: 'chat', input: ['chunk one', 'chunk two'] });
    expect(embed.status).toBe(200);
    expect(embed.json.data).toHaveLength(2);
  });

  it('Open WebUI’s Ollama connection (OLLAMA_BASE_URL = the Ollama port, key as Bearer)', async () => {
    // open-webui backend/open_webui/routers/ollama.py: verify_connection GET {url}/api/version;
    // get_all_models GET {url}/api/tags then GET {url}/api/ps (expires_at read with
    // datetime.fromisoformat); a chat is POST {url}/api/chat, streamed NDJSON.
    const headers = { authorization: `Bearer ${KEY}` };
    const version = await send(ollamaBase, 'GET', '/api/version', headers);
    expect(version.status).toBe(200);
    expect(version.json.version).toMatch(/^\d+\.\d+\.\d+$/);

    const tags = await send(ollamaBase, 'GET', '/api/tags', headers);
    expect(tags.status).toBe(200);
    expect(tags.json.models.map((m: { model: string }) => m.model)).toEqual(['coder', 'chat']);

    const chat = await send(ollamaBase, 'POST', '/api/chat', headers, {
      model: 'chat:latest',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      options: {},
    });
    expect(chat.status).toBe(200);
    const lines = ndjson(chat.text);
    expect(lines.at(-1)).toMatchObject({ done: true, model: 'chat:latest' });
    expect(lines.slice(0, -1).every((l) => l.done === false)).toBe(true);

    const ps = await send(ollamaBase, 'GET', '/api/ps', headers);
    expect(ps.status).toBe(200);
    const loaded = ps.json.models.find((m: { name: string }) => m.name === 'chat');
    expect(loaded).toBeDefined();
    // An ISO 8601 time Python's datetime.fromisoformat reads (3.11+: a trailing Z).
    expect(loaded.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  });

  it('Zed’s Ollama provider (api_url = the Ollama port)', async () => {
    // zed-industries/zed crates/ollama/src/ollama.rs: get_models GET /api/tags (each listing needs
    // name, modified_at, size, digest and string details), show_model POST /api/show {"model"}
    // per model for capabilities, then stream_chat_completion POST /api/chat with stream true and
    // keep_alive -1 (KeepAlive::indefinite), each NDJSON line a ChatResponseDelta.
    const headers = { authorization: `Bearer ${KEY}` };
    const tags = await send(ollamaBase, 'GET', '/api/tags', { ...headers, accept: 'application/json' });
    expect(tags.status).toBe(200);
    for (const m of tags.json.models) {
      expect(typeof m.name).toBe('string');
      expect(typeof m.modified_at).toBe('string');
      expect(Number.isInteger(m.size) && m.size >= 0).toBe(true);
      expect(typeof m.digest).toBe('string');
      for (const k of ['format', 'family', 'parameter_size', 'quantization_level']) expect(typeof m.details[k], k).toBe('string');
    }
    const show = await send(ollamaBase, 'POST', '/api/show', headers, { model: 'coder' });
    expect(show.status).toBe(200);
    expect(show.json.capabilities).toEqual(expect.arrayContaining(['completion', 'tools']));

    const chat = await send(ollamaBase, 'POST', '/api/chat', headers, {
      model: 'coder',
      messages: [
        { role: 'system', content: 'You are Zed.' },
        { role: 'user', content: 'hello' },
      ],
      stream: true,
      keep_alive: -1,
      options: { num_ctx: 8192, num_predict: 32, stop: [], temperature: 1.0, top_p: null },
      tools: [],
      think: null,
    });
    expect(chat.status).toBe(200);
    for (const l of ndjson(chat.text)) {
      expect(typeof l.model).toBe('string');
      expect(typeof l.created_at).toBe('string');
      expect(l.message.role).toBe('assistant');
      expect(typeof l.message.content).toBe('string');
      expect(typeof l.done).toBe('boolean');
    }
    expect((await t.model('coder')).keepAliveSeconds).toBe(-1); // kept loaded, as Zed asks
  });

  it('Ollama’s own heartbeat (HEAD /, api/client.go Heartbeat) and GET / need no key on the Ollama port', async () => {
    // ollama/ollama server/routes.go: r.HEAD("/") and r.GET("/") answer "Ollama is running"; the
    // CLI (and tools that detect Ollama) probe it before anything else.
    const head = await send(ollamaBase, 'HEAD', '/');
    expect(head.status).toBe(200);
    const get = await send(ollamaBase, 'GET', '/');
    expect(get.status).toBe(200);
    expect(get.text).toBe('Ollama is running');
    // Everything else there still needs the key, and the main port has no such page.
    expect((await send(ollamaBase, 'GET', '/api/tags')).status).toBe(401);
    expect((await send(t.url, 'GET', '/')).status).toBe(401);
    expect((await send(t.url, 'GET', '/', { authorization: `Bearer ${KEY}` })).status).toBe(404);
  });
});

// Ollama request bodies → the OpenAI request a model's server understands (pure; docs/http-api.md
// "Ollama-compatible routes"). The mapping runs the opposite way of Ollama's own OpenAI layer
// (openai/openai.go FromChatRequest / FromCompleteRequest): options become sampling fields,
// `format` becomes `response_format`, images become image parts, tool calls get their arguments
// back as JSON text. Streams always ask for usage, so the last line can carry the counts.

import { ollamaBadRequest } from './ollama-errors.js';

type Json = Record<string, unknown>;

export interface OpenAiCall {
  /** The model's OpenAI route. */
  path: '/v1/chat/completions' | '/v1/completions' | '/v1/embeddings';
  body: Json;
}

export type Think = boolean | 'low' | 'medium' | 'high' | 'max' | null;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `stream` defaults to true on Ollama's routes. */
export function wantsStream(body: Json): boolean {
  return body.stream !== false;
}

export function readThink(value: unknown): Think {
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean') return value;
  if (value === 'low' || value === 'medium' || value === 'high' || value === 'max') return value;
  if (typeof value === 'string') {
    throw ollamaBadRequest(`invalid think value: ${JSON.stringify(value)} (must be "high", "medium", "low", "max", true, or false)`);
  }
  throw ollamaBadRequest('think must be a boolean or string ("high", "medium", "low", "max", true, or false)');
}

/** `options` → OpenAI/vLLM sampling fields. Options with no OpenAI meaning (num_ctx, num_gpu…) are ignored, as Ollama ignores unknown ones. */
export function mapOptions(options: unknown): Json {
  if (options === undefined || options === null) return {};
  if (!isObject(options)) throw ollamaBadRequest('options must be an object');
  const out: Json = {};
  const num = (key: string): number | undefined => {
    const v = options[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw ollamaBadRequest(`option "${key}" must be a number`);
    return v;
  };
  const copy = (from: string, to: string = from) => {
    const v = num(from);
    if (v !== undefined) out[to] = v;
  };
  copy('temperature');
  copy('top_p');
  copy('top_k');
  copy('min_p');
  copy('seed');
  copy('presence_penalty');
  copy('frequency_penalty');
  copy('repeat_penalty', 'repetition_penalty');
  const numPredict = num('num_predict');
  // -1 (infinite) and -2 (fill the context) mean no limit; so does 0 for the OpenAI side.
  if (numPredict !== undefined && numPredict > 0) out.max_tokens = Math.floor(numPredict);
  const stop = options.stop;
  if (stop !== undefined && stop !== null) {
    if (typeof stop === 'string') out.stop = [stop];
    else if (Array.isArray(stop) && stop.every((x) => typeof x === 'string')) out.stop = stop;
    else throw ollamaBadRequest('option "stop" must be a list of strings');
  }
  return out;
}

/** `format`: "json" → JSON mode; a JSON schema → structured output; "" or absent → none. */
export function mapFormat(format: unknown): Json {
  if (format === undefined || format === null || format === '') return {};
  if (format === 'json') return { response_format: { type: 'json_object' } };
  if (isObject(format)) return { response_format: { type: 'json_schema', json_schema: { name: 'format', schema: format } } };
  throw ollamaBadRequest(`invalid format: ${JSON.stringify(format).slice(0, 80)} (expected "json" or a JSON schema)`);
}

/** `think` → vLLM's switches: chat_template_kwargs.enable_thinking (Qwen3, DeepSeek…), reasoning_effort (gpt-oss). */
function mapThink(think: Think): Json {
  if (think === null) return {};
  if (typeof think === 'boolean') return { chat_template_kwargs: { enable_thinking: think } };
  return { chat_template_kwargs: { enable_thinking: true }, reasoning_effort: think === 'max' ? 'high' : think };
}

/** The image's MIME type from its first bytes (Ollama sends bare base64, OpenAI wants a data URL). */
export function imageDataUrl(image: unknown): string {
  if (typeof image !== 'string' || image.length === 0) throw ollamaBadRequest('images must be base64-encoded strings');
  if (image.startsWith('data:')) return image;
  const head = Buffer.from(image.slice(0, 24), 'base64');
  let mime = 'image/jpeg';
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) mime = 'image/png';
  else if (head.subarray(0, 3).toString('latin1') === 'GIF') mime = 'image/gif';
  else if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') mime = 'image/webp';
  else if (head.subarray(0, 2).toString('latin1') === 'BM') mime = 'image/bmp';
  return `data:${mime};base64,${image}`;
}

function content(text: string, images: unknown): unknown {
  if (images === undefined || images === null || (Array.isArray(images) && images.length === 0)) return text;
  if (!Array.isArray(images)) throw ollamaBadRequest('images must be a list of base64-encoded strings');
  const parts: Json[] = [];
  if (text !== '') parts.push({ type: 'text', text });
  for (const img of images) parts.push({ type: 'image_url', image_url: { url: imageDataUrl(img) } });
  return parts;
}

/** Ollama messages → OpenAI messages. Tool calls get ids (Ollama's may have none) so tool results can name them. */
export function mapMessages(messages: unknown): Json[] {
  if (!Array.isArray(messages)) throw ollamaBadRequest('messages must be a list');
  const out: Json[] = [];
  /** The ids of earlier tool calls by function name, newest last, for tool results that name only the tool. */
  const callIds = new Map<string, string[]>();
  messages.forEach((m, i) => {
    if (!isObject(m)) throw ollamaBadRequest(`messages[${i}] must be an object`);
    if (typeof m.role !== 'string' || m.role === '') throw ollamaBadRequest(`messages[${i}].role is required`);
    const role = m.role.toLowerCase(); // Message.UnmarshalJSON lower-cases it
    if (m.content !== undefined && m.content !== null && typeof m.content !== 'string') {
      throw ollamaBadRequest(`messages[${i}].content must be a string`);
    }
    const text = (m.content as string | undefined) ?? '';
    const msg: Json = { role, content: content(text, m.images) };
    if (role === 'assistant' && typeof m.thinking === 'string' && m.thinking !== '') msg.reasoning = m.thinking;
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      msg.tool_calls = m.tool_calls.map((tc: unknown, j: number) => {
        const fn = isObject(tc) && isObject(tc.function) ? tc.function : null;
        if (!fn || typeof fn.name !== 'string') throw ollamaBadRequest(`messages[${i}].tool_calls[${j}].function.name is required`);
        const id = isObject(tc) && typeof tc.id === 'string' && tc.id !== '' ? tc.id : `call_${i}_${j}`;
        const ids = callIds.get(fn.name) ?? [];
        ids.push(id);
        callIds.set(fn.name, ids);
        const args = fn.arguments ?? {};
        return { id, type: 'function', function: { name: fn.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) } };
      });
      if (text === '' && !m.images) msg.content = null;
    }
    if (role === 'tool') {
      const name = typeof m.tool_name === 'string' && m.tool_name !== '' ? m.tool_name : null;
      if (name) msg.name = name;
      if (typeof m.tool_call_id === 'string' && m.tool_call_id !== '') msg.tool_call_id = m.tool_call_id;
      else if (name && callIds.get(name)?.length) msg.tool_call_id = callIds.get(name)!.shift();
    }
    out.push(msg);
  });
  return out;
}

function sampling(body: Json, stream: boolean): Json {
  return {
    ...mapOptions(body.options),
    ...mapFormat(body.format),
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
}

/** POST /api/chat → /v1/chat/completions. */
export function chatToOpenAi(body: Json, model: string, think: Think): OpenAiCall {
  const out: Json = { model, messages: mapMessages(body.messages), ...sampling(body, true), ...mapThink(think) };
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw ollamaBadRequest('tools must be a list');
    if (body.tools.length > 0) out.tools = body.tools;
  }
  return { path: '/v1/chat/completions', body: out };
}

/**
 * POST /api/generate → chat completions with `prompt` as the user message and `system` as a system
 * message; `raw` (a prompt already templated) or a `suffix` (fill-in-the-middle) → /v1/completions.
 */
export function generateToOpenAi(body: Json, model: string, think: Think): OpenAiCall {
  const prompt = body.prompt ?? '';
  if (typeof prompt !== 'string') throw ollamaBadRequest('prompt must be a string');
  const system = body.system ?? '';
  if (typeof system !== 'string') throw ollamaBadRequest('system must be a string');
  const suffix = typeof body.suffix === 'string' ? body.suffix : '';
  if (body.raw === true || suffix !== '') {
    if (body.raw === true && system !== '') throw ollamaBadRequest('raw mode does not support template, system, or context');
    if (body.images !== undefined && body.images !== null && (!Array.isArray(body.images) || body.images.length > 0)) {
      throw ollamaBadRequest('images need a chat model: send them without raw or suffix');
    }
    const out: Json = { model, prompt, ...sampling(body, true) };
    if (suffix !== '') out.suffix = suffix;
    return { path: '/v1/completions', body: out };
  }
  const messages: Json[] = [];
  if (system !== '') messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: content(prompt, body.images) });
  return { path: '/v1/chat/completions', body: { model, messages, ...sampling(body, true), ...mapThink(think) } };
}

/** POST /api/embed (input: a string or a list) and the older /api/embeddings (prompt) → /v1/embeddings. */
export function embedToOpenAi(body: Json, model: string, legacy: boolean): OpenAiCall {
  const input = legacy ? (body.prompt ?? '') : body.input;
  const ok = typeof input === 'string' || (Array.isArray(input) && input.every((x) => typeof x === 'string'));
  if (!ok) throw ollamaBadRequest(legacy ? 'prompt must be a string' : 'invalid input type');
  return { path: '/v1/embeddings', body: { model, input, encoding_format: 'float' } };
}

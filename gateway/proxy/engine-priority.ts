// The engine's own priority (docs/scheduling.md "Priority lanes"): a vLLM server started with
// `--scheduling-policy priority` schedules the requests it holds by their body's `priority`
// (lower first). For such a model the gateway adds `"priority": 0` (interactive) or `1` (batch) to
// the request body, spliced into the bytes after the opening `{`; a client's own top-level
// `priority` is kept. Any other model's bodies stay byte-exact: vLLM refuses a priority other than
// 0 when the server does not use priority scheduling (vllm/entrypoints/openai/protocol.py,
// `priority` field: "Any priority other than 0 will raise an error if the served model does not
// use priority scheduling").

import type { ModelConfig } from '../config/types.js';
import { lastTopLevelMember } from '../http/body-model.js';
import type { Priority } from '../scheduler/priority.js';

/**
 * The routes whose request models carry `priority` in vLLM's protocol.py: ChatCompletionRequest,
 * CompletionRequest, EmbeddingCompletionRequest / EmbeddingChatRequest (also /pooling's),
 * ResponsesRequest, RerankRequest (/v1/rerank, /rerank, /v2/rerank), ScoreRequest (/v1/score,
 * /score) and ClassificationRequest (/classify). Tokenize, detokenize, transcriptions (a form) and
 * /v1/messages have none, and get none.
 */
export const ENGINE_PRIORITY_PATHS: ReadonlySet<string> = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/rerank',
  '/v1/score',
  '/pooling',
  '/classify',
  '/rerank',
  '/v2/rerank',
  '/score',
]);

/** vLLM's value per class: lower is scheduled earlier. */
export const ENGINE_PRIORITY: Record<Priority, number> = { interactive: 0, batch: 1 };

/** Every `--scheduling-policy VALUE` (or `=VALUE`; `_` for `-`, as vLLM's FlexibleArgumentParser reads it). */
const FLAG = /(?:^|\s)--scheduling[-_]policy(?:=|\s+)(\S*)/g;
const flagged = new WeakMap<ModelConfig, boolean>();

/**
 * The model's server schedules by priority: its command or args say `--scheduling-policy priority`
 * (or `=priority`), and no later `--scheduling-policy` says otherwise (argparse: the last one wins).
 */
export function usesPriorityScheduling(config: ModelConfig): boolean {
  let yes = flagged.get(config);
  if (yes === undefined) {
    const words = config.runtime === 'remote' ? [] : [...(config.runtime === 'process' ? config.command : []), ...config.args];
    const values = [...words.join(' ').matchAll(FLAG)].map((m) => m[1]);
    yes = values.at(-1) === 'priority';
    flagged.set(config, yes);
  }
  return yes;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * `body` with `"priority":N` as its first member, or `body` itself when it is not a JSON object or
 * already names a top-level `priority` (compared decoded, as JSON.parse and vLLM read keys: a
 * `"priority"` inside a message or `"pri\u006frity"` is seen for what it is).
 */
export function spliceEnginePriority(body: Buffer, priority: Priority): Buffer {
  let i = 0;
  while (i < body.length && WS.has(body[i])) i++;
  if (body[i] !== 0x7b /* { */) return body;
  if (lastTopLevelMember(body, 'priority') !== null) return body;
  let j = i + 1;
  while (j < body.length && WS.has(body[j])) j++;
  const empty = body[j] === 0x7d; /* } */
  const member = Buffer.from(`"priority":${ENGINE_PRIORITY[priority]}${empty ? '' : ','}`, 'latin1');
  return Buffer.concat([body.subarray(0, i + 1), member, body.subarray(i + 1)]);
}

/** The body to send upstream for this request: with the engine priority where the model and the route take one. */
export function withEnginePriority(body: Buffer, config: ModelConfig, path: string, priority: Priority): Buffer {
  if (!usesPriorityScheduling(config)) return body;
  const q = path.indexOf('?');
  if (!ENGINE_PRIORITY_PATHS.has(q < 0 ? path : path.slice(0, q))) return body;
  return spliceEnginePriority(body, priority);
}

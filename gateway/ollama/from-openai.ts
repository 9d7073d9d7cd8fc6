// OpenAI answers → Ollama's (pure; the clock is injected). The upstream is always asked to stream
// (with usage), so one converter serves both of Ollama's modes: `stream: true` turns each chunk
// into an NDJSON line as it comes; `stream: false` gathers them into the one object Ollama sends
// (as Ollama itself does, server/routes.go). Tool calls, streamed as fragments, are sent whole
// once complete; reasoning (`reasoning`, or `reasoning_content` of older vLLM) becomes `thinking`.

type Json = Record<string, unknown>;

export type OllamaKind = 'chat' | 'generate';

export interface Timings {
  /** ms (monotonic) when the gateway got the request. */
  startedMs: number;
  /** ms when the request got its slot (the model was ready); null until then. */
  admittedMs: number | null;
}

export interface ConverterOptions {
  kind: OllamaKind;
  /** The name as the client sent it: Ollama answers with it. */
  model: string;
  /** false: the client asked for no thinking, so none is returned. */
  thinking: boolean;
  timings: Timings;
  now(): number;
  /** Wall-clock time for created_at. */
  date(): Date;
}

export interface OllamaToolCall {
  id?: string;
  function: { index: number; name: string; arguments: unknown };
}

const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));

function doneReason(finish: string | null): string {
  if (finish === null || finish === 'tool_calls' || finish === 'function_call') return 'stop';
  return finish;
}

function parseArguments(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: handed on as the model wrote it rather than lost
  }
}

/** One OpenAI error object (or a bare message) → Ollama's message. */
export function openAiErrorMessage(body: unknown, status: number): string {
  const err = body !== null && typeof body === 'object' ? (body as Json).error : undefined;
  if (typeof err === 'string') return err;
  if (err !== null && typeof err === 'object' && typeof (err as Json).message === 'string') return (err as Json).message as string;
  if (body !== null && typeof body === 'object' && typeof (body as Json).message === 'string') return (body as Json).message as string;
  if (body !== null && typeof body === 'object' && typeof (body as Json).detail === 'string') return (body as Json).detail as string;
  return `upstream error ${status}`;
}

export class ChatStreamConverter {
  private content = '';
  private thinkingText = '';
  private readonly calls = new Map<number, { id?: string; name: string; args: string }>();
  private finish: string | null = null;
  private promptTokens: number | null = null;
  private completionTokens: number | null = null;
  private firstTokenMs: number | null = null;
  private failed: string | null = null;
  private finished = false;
  private callsSent = false;

  constructor(private readonly o: ConverterOptions) {}

  /** The upstream failed inside the stream (vLLM sends `data: {"error": …}`); null otherwise. */
  get error(): string | null {
    return this.failed;
  }

  /** One SSE event's data → the Ollama objects to send now (streaming mode). */
  event(data: string): Json[] {
    if (this.failed !== null || this.finished) return [];
    if (data === '[DONE]') return [];
    let chunk: Json;
    try {
      chunk = JSON.parse(data) as Json;
    } catch {
      return []; // not JSON: nothing Ollama could show
    }
    if (chunk.error !== undefined) {
      this.failed = openAiErrorMessage(chunk, 500);
      return [{ error: this.failed }];
    }
    const usage = chunk.usage as Json | null | undefined;
    if (usage && typeof usage === 'object') {
      if (typeof usage.prompt_tokens === 'number') this.promptTokens = usage.prompt_tokens;
      if (typeof usage.completion_tokens === 'number') this.completionTokens = usage.completion_tokens;
    }
    const choice = Array.isArray(chunk.choices) ? (chunk.choices[0] as Json | undefined) : undefined;
    if (!choice) return [];
    let text = '';
    let thinking = '';
    if (this.o.kind === 'generate' && typeof choice.text === 'string') text = choice.text;
    const delta = (choice.delta ?? null) as Json | null;
    if (delta) {
      if (typeof delta.content === 'string') text = delta.content;
      const r = delta.reasoning ?? delta.reasoning_content;
      if (typeof r === 'string' && this.o.thinking) thinking = r;
      if (Array.isArray(delta.tool_calls)) this.toolDeltas(delta.tool_calls as Json[]);
    }
    if (typeof choice.finish_reason === 'string') this.finish = choice.finish_reason;
    if ((text !== '' || thinking !== '') && this.firstTokenMs === null) this.firstTokenMs = this.o.now();
    this.content += text;
    this.thinkingText += thinking;
    const out: Json[] = [];
    if (text !== '' || thinking !== '') out.push(this.partial(text, thinking, null));
    // Tool calls are complete once the choice finishes: send them in one line, as Ollama does.
    if (this.finish !== null && this.calls.size > 0 && !this.callsSent && this.o.kind === 'chat') {
      this.callsSent = true;
      out.push(this.partial('', '', this.toolCalls()));
    }
    return out;
  }

  private toolDeltas(deltas: Json[]): void {
    for (const d of deltas) {
      const index = typeof d.index === 'number' ? d.index : this.calls.size;
      const fn = (d.function ?? {}) as Json;
      let call = this.calls.get(index);
      if (!call) {
        call = { name: '', args: '' };
        this.calls.set(index, call);
      }
      if (typeof d.id === 'string' && d.id !== '') call.id = d.id;
      if (typeof fn.name === 'string') call.name += fn.name;
      if (typeof fn.arguments === 'string') call.args += fn.arguments;
    }
  }

  private toolCalls(): OllamaToolCall[] {
    return [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, c]) => ({ ...(c.id ? { id: c.id } : {}), function: { index, name: c.name, arguments: parseArguments(c.args) } }));
  }

  private base(): Json {
    return { model: this.o.model, created_at: this.o.date().toISOString() };
  }

  private partial(text: string, thinking: string, toolCalls: OllamaToolCall[] | null): Json {
    if (this.o.kind === 'generate') {
      return { ...this.base(), response: text, ...(thinking ? { thinking } : {}), done: false };
    }
    const message: Json = { role: 'assistant', content: text };
    if (thinking) message.thinking = thinking;
    if (toolCalls) message.tool_calls = toolCalls;
    return { ...this.base(), message, done: false };
  }

  /** Counts and durations (ns) of the last object, where known. */
  private metrics(): Json {
    const end = this.o.now();
    const { startedMs, admittedMs } = this.o.timings;
    const admitted = admittedMs ?? startedMs;
    const first = this.firstTokenMs ?? end;
    const m: Json = {
      total_duration: ns(end - startedMs),
      load_duration: ns(admitted - startedMs),
    };
    if (this.promptTokens !== null) m.prompt_eval_count = this.promptTokens;
    m.prompt_eval_duration = ns(first - admitted);
    if (this.completionTokens !== null) m.eval_count = this.completionTokens;
    m.eval_duration = ns(end - first);
    return m;
  }

  /** The last line of a stream: done, why, counts and durations. */
  final(): Json {
    this.finished = true;
    const reason = doneReason(this.finish);
    if (this.o.kind === 'generate') return { ...this.base(), response: '', done: true, done_reason: reason, ...this.metrics() };
    return { ...this.base(), message: { role: 'assistant', content: '' }, done: true, done_reason: reason, ...this.metrics() };
  }

  /** `stream: false`: everything in one object. */
  whole(): Json {
    this.finished = true;
    const reason = doneReason(this.finish);
    const thinking = this.thinkingText ? { thinking: this.thinkingText } : {};
    if (this.o.kind === 'generate') {
      return { ...this.base(), response: this.content, ...thinking, done: true, done_reason: reason, ...this.metrics() };
    }
    const message: Json = { role: 'assistant', content: this.content, ...thinking };
    if (this.calls.size > 0) message.tool_calls = this.toolCalls();
    return { ...this.base(), message, done: true, done_reason: reason, ...this.metrics() };
  }
}

/** /v1/embeddings' answer → /api/embed's (normalised, as Ollama's are) or /api/embeddings' (legacy). */
export function embeddingsFromOpenAi(
  body: Json,
  o: { model: string; legacy: boolean; dimensions: number | null; timings: Timings; now: number },
): Json {
  const data = Array.isArray(body.data) ? ([...body.data] as Json[]) : [];
  data.sort((a, b) => (a.index as number) - (b.index as number));
  const vectors = data.map((d) => (Array.isArray(d.embedding) ? (d.embedding as number[]) : []));
  if (o.legacy) return { embedding: vectors[0] ?? [] };
  const usage = (body.usage ?? {}) as Json;
  const admitted = o.timings.admittedMs ?? o.timings.startedMs;
  return {
    model: o.model,
    embeddings: vectors.map((v) =>
      normalize(o.dimensions !== null && o.dimensions > 0 && o.dimensions < v.length ? v.slice(0, o.dimensions) : v),
    ),
    total_duration: ns(o.now - o.timings.startedMs),
    load_duration: ns(admitted - o.timings.startedMs),
    ...(typeof usage.prompt_tokens === 'number' ? { prompt_eval_count: usage.prompt_tokens } : {}),
  };
}

/** Unit length (server/routes.go normalize); a zero vector stays as it is. */
export function normalize(v: number[]): number[] {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm === 0 ? v : v.map((x) => x / norm);
}

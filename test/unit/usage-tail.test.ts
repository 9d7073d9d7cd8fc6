// Reading `usage` from the tail of a response the proxy passes through unchanged.

import { describe, expect, it } from 'vitest';
import { UsageTail, usageIn } from '../../gateway/proxy/usage-tail.js';

const chatBody =
  '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"he said \\"usage\\": {\\"prompt_tokens\\": 999}"},"finish_reason":"stop"}],' +
  '"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":12,"total_tokens":52,"completion_tokens":40,"prompt_tokens_details":{"cached_tokens":0}},"prompt_logprobs":null,"kv_transfer_params":null}';

const sse = (events: string[]) => events.map((e) => `data: ${e}\n\n`).join('');
const chatStream = sse([
  '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
  ...Array.from(
    { length: 50 },
    (_, i) => `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok${i} "}}]}`,
  ),
  '{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"total_tokens":57,"completion_tokens":50}}',
  '[DONE]',
]);

function feed(text: string, chunkBytes: number): UsageTail {
  const t = new UsageTail();
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += chunkBytes) t.push(buf.subarray(i, i + chunkBytes));
  return t;
}

describe('usage from the tail of a response', () => {
  it('a JSON body: the real usage object, not text in the content that looks like one', () => {
    expect(usageIn(Buffer.from(chatBody))).toEqual({ promptTokens: 12, completionTokens: 40 });
  });

  it('a stream with include_usage, whatever the chunking (one piece, events, single bytes)', () => {
    for (const size of [chatStream.length, 97, 7, 1])
      expect(feed(chatStream, size).usage()).toEqual({ promptTokens: 7, completionTokens: 50 });
  });

  it('keeps only the last few KiB of a long response', () => {
    const long = sse([...Array.from({ length: 5000 }, (_, i) => `{"choices":[{"delta":{"content":"${i}"}}]}`)]) + chatStream;
    const t = feed(long, 64);
    expect(t.usage()).toEqual({ promptTokens: 7, completionTokens: 50 });
    expect((t as unknown as { bytes: number }).bytes).toBeLessThan(8192 + 64);
  });

  it('Anthropic and Responses shapes: input_tokens / output_tokens', () => {
    const messages =
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":5,"output_tokens":16}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    expect(usageIn(Buffer.from(messages))).toEqual({ promptTokens: 5, completionTokens: 16 });
    const responses = '{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":3,"output_tokens":9,"total_tokens":12}}';
    expect(usageIn(Buffer.from(responses))).toEqual({ promptTokens: 3, completionTokens: 9 });
  });

  it('null without usage, with "usage": null, or with a usage object cut short', () => {
    const noUsage = sse(['{"choices":[{"delta":{"content":"x"}}]}', '[DONE]']);
    expect(feed(noUsage, 10).usage()).toBeNull();
    expect(usageIn(Buffer.from('{"choices":[],"usage":null}'))).toBeNull();
    expect(usageIn(Buffer.from('{"usage":{"prompt_tokens":3,"comp'))).toBeNull();
    expect(usageIn(Buffer.from('{"usage":{"type":"duration","seconds":1}}'))).toBeNull();
    expect(new UsageTail().usage()).toBeNull();
  });
});

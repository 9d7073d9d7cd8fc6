// The official `openai` npm client pointed at the gateway: chat (streamed and not), completions,
// embeddings, model list, and errors surfaced as the client's typed errors.

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, cleanupAll, processModel, startGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  t = await startGateway(baseYaml(`models:\n${processModel('oa', { extra: 'aliases: ["oa-alias"]' })}`));
  client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});
afterAll(cleanupAll);

describe('openai npm client', () => {
  it('chat completion, not streamed', async () => {
    const res = await client.chat.completions.create({ model: 'oa-alias', messages: [{ role: 'user', content: 'hello' }], max_tokens: 10 });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('oa');
    expect(res.choices[0].message.role).toBe('assistant');
    expect(res.choices[0].message.content).toContain('héllo');
  });

  it('chat completion, streamed', async () => {
    const stream = await client.chat.completions.create({ model: 'oa', messages: [{ role: 'user', content: 'hello' }], stream: true });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toContain('héllo wörld 你好 🚀');
  });

  it('completions and embeddings', async () => {
    const c = await client.completions.create({ model: 'oa', prompt: 'x', max_tokens: 4 });
    expect(c.choices[0].text.length).toBeGreaterThan(0);
    const e = await client.embeddings.create({ model: 'oa', input: ['one', 'two'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0].embedding.length).toBeGreaterThan(0);
  });

  it('lists the models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(['oa']);
  });

  it('gateway errors arrive as typed errors with the code', async () => {
    const err = await client.chat.completions.create({ model: 'missing', messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    expect((err as InstanceType<typeof OpenAI.APIError>).type).toBe('invalid_request_error');
  });
});

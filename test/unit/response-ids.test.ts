// Reading a Responses API id from the bytes as they pass (response-id-tap.ts), the bounded id →
// server map (response-routes.ts), and the Anthropic error types (anthropic-errors.ts).

import { describe, expect, it } from 'vitest';
import { GatewayError, type ErrorCode } from '../../gateway/errors.js';
import { anthropicErrorBody, anthropicErrorEvent, anthropicErrorType, isAnthropicPath } from '../../gateway/http/anthropic-errors.js';
import { RESPONSE_IDS_KEPT, ResponseIds } from '../../gateway/http/response-routes.js';
import { ResponseIdTap, TopLevelIdScanner, createdIdIn } from '../../gateway/proxy/response-id-tap.js';
import type { ModelEntry } from '../../gateway/scheduler/model-entry.js';
import type { Scheduler } from '../../gateway/scheduler/scheduler.js';

/** Feeds `text` to a tap in pieces of `size` bytes; returns the ids it reported. */
function tapIds(text: string, size: number, status = 200, type = 'application/json'): string[] {
  const ids: string[] = [];
  const tap = new ResponseIdTap((id) => ids.push(id));
  tap.head(status, { 'content-type': type });
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += size) tap.data(buf.subarray(i, i + size));
  tap.end();
  return ids;
}

describe('TopLevelIdScanner', () => {
  const body = JSON.stringify({
    object: 'response',
    output: [{ id: 'msg_inner', content: [{ text: 'an "id": "fake" inside a string \\" with escapes' }] }],
    metadata: { id: 'nested' },
    id: 'resp_top€',
    usage: null,
  });

  it('finds the top-level id wherever it is and however the bytes are split, never a nested one', () => {
    for (const size of [1, 2, 3, 7, 64, body.length]) expect(tapIds(body, size), `chunks of ${size}`).toEqual(['resp_top€']);
  });

  it('reports nothing for a body without a string id, an array, or an error status', () => {
    expect(tapIds(JSON.stringify({ id: 42, x: { id: 'nested' } }), 5)).toEqual([]);
    expect(tapIds(JSON.stringify([{ id: 'a' }]), 5)).toEqual([]);
    expect(tapIds(JSON.stringify({ id: 'resp_x' }), 5, 404)).toEqual([]);
    const s = new TopLevelIdScanner();
    expect(s.push(Buffer.from('{"a":1}'))).toBeNull();
    expect(s.done).toBe(true);
  });
});

describe('response.created in a stream', () => {
  const created = { type: 'response.created', sequence_number: 0, response: { id: 'resp_stream', status: 'in_progress' } };
  const stream =
    `event: response.created\ndata: ${JSON.stringify(created)}\n\n` +
    `event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_stream"}}\n\n`;

  it('is read from the first event, split anywhere, with LF or CRLF line ends', () => {
    for (const size of [1, 5, 33, stream.length]) expect(tapIds(stream, size, 200, 'text/event-stream')).toEqual(['resp_stream']);
    expect(tapIds(stream.replace(/\n/g, '\r\n'), 9, 200, 'text/event-stream; charset=utf-8')).toEqual(['resp_stream']);
  });

  it('an event not yet complete is not read; other event types are skipped', () => {
    expect(createdIdIn(`event: response.created\ndata: ${JSON.stringify(created)}`)).toBeNull();
    expect(createdIdIn('data: {"type":"response.in_progress","response":{"id":"x"}}\n\n')).toBeNull();
  });
});

describe('ResponseIds', () => {
  const instanceA = { endpoint: 'http://a' };
  const entry = (id: string, instance: object | null, runtime = 'process') =>
    ({ id, instance, config: { runtime } }) as unknown as ModelEntry;

  it('routes an id to the model and server instance that made it, and forgets the oldest past the bound', () => {
    const alpha = entry('alpha', instanceA);
    const entries = new Map([['alpha', alpha]]);
    const scheduler = { entries } as unknown as Scheduler;
    const ids = new ResponseIds();
    for (let i = 0; i <= RESPONSE_IDS_KEPT; i++) tapInto(ids, alpha, `resp_${i}`);
    expect(ids.size).toBe(RESPONSE_IDS_KEPT);
    expect(ids.ownerOf('resp_0', scheduler)).toHaveProperty('error.code', 'not_found'); // the oldest, dropped
    expect(ids.ownerOf(`resp_${RESPONSE_IDS_KEPT}`, scheduler)).toEqual({ entry: alpha });

    // A new server (another instance), or none: the ids of the old one are gone with it.
    (alpha as unknown as { instance: object | null }).instance = { endpoint: 'http://a2' };
    expect(ids.ownerOf('resp_1', scheduler)).toHaveProperty('error.message', expect.stringContaining('stopped since'));
    (alpha as unknown as { instance: object | null }).instance = null;
    expect(ids.ownerOf('resp_1', scheduler)).toHaveProperty('error.code', 'not_found');
  });

  it('a remote model (no instance) keeps its ids', () => {
    const remote = entry('far', null, 'remote');
    const ids = new ResponseIds(10);
    tapInto(ids, remote, 'resp_far');
    expect(ids.ownerOf('resp_far', { entries: new Map([['far', remote]]) } as unknown as Scheduler)).toEqual({ entry: remote });
  });
});

function tapInto(ids: ResponseIds, entry: ModelEntry, id: string): void {
  const tap = ids.tapFor(entry);
  tap.head(200, { 'content-type': 'application/json' });
  tap.data(Buffer.from(JSON.stringify({ id })));
  tap.end();
}

describe('Anthropic errors', () => {
  it('map the catalogue to Anthropic’s types and keep the code in details.error_code', () => {
    const cases: Array<[ErrorCode, string]> = [
      ['invalid_json', 'invalid_request_error'],
      ['invalid_api_key', 'authentication_error'],
      ['forbidden_origin', 'permission_error'],
      ['model_not_found', 'not_found_error'],
      ['model_busy', 'conflict_error'],
      ['body_too_large', 'request_too_large'],
      ['queue_full', 'rate_limit_error'],
      ['queue_timeout', 'overloaded_error'],
      ['insufficient_vram', 'overloaded_error'],
      ['shutting_down', 'overloaded_error'],
      ['model_start_failed', 'api_error'],
      ['upstream_unreachable', 'api_error'],
      ['upstream_timeout', 'timeout_error'],
      ['internal_error', 'api_error'],
    ];
    for (const [code, type] of cases) expect(anthropicErrorType(new GatewayError(code, 'm')), code).toBe(type);
    expect(anthropicErrorBody(new GatewayError('queue_full', 'full'), 'req-1')).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'full', details: { error_code: 'queue_full' } },
      request_id: 'req-1',
    });
  });

  it('a stream that fails before the model answered ends with Anthropic’s error event', () => {
    const data = (e: string) => JSON.parse(e.split('\n')[1].slice(6));
    const own = anthropicErrorEvent({ message: 'waited', type: 'server_error', code: 'queue_timeout', param: null });
    expect(own.startsWith('event: error\ndata: ')).toBe(true);
    expect(own.endsWith('\n\n')).toBe(true);
    expect(data(own)).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'waited', details: { error_code: 'queue_timeout' } },
    });
    // An upstream's: its own Anthropic type when it has one, else the one of its status.
    const typed = { message: 'm', type: 'rate_limit_error', code: 'x', param: null };
    expect(data(anthropicErrorEvent(typed)).error.type).toBe('rate_limit_error');
    expect(data(anthropicErrorEvent({ message: 'm', type: 'BadRequestError', code: 'upstream_400', param: null })).error.type).toBe(
      'invalid_request_error',
    );
    expect(data(anthropicErrorEvent({ message: 'm', type: 'server_error', code: 'upstream_529', param: null })).error.type).toBe(
      'overloaded_error',
    );
  });

  it('apply to the Messages API and its sub-paths only', () => {
    expect(['/v1/messages', '/v1/messages/count_tokens', '/v1/messages/batches'].every(isAnthropicPath)).toBe(true);
    expect(['/v1/messagesx', '/v1/chat/completions', '/api/chat', '/v1/models'].some(isAnthropicPath)).toBe(false);
  });
});

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JsonLineSplitter, PullProgressTracker, type PullMessage } from '../../gateway/runtimes/docker-pull-progress.js';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/docker-pull-stream.jsonl');

function replay(raw: string, chunkSize: number): { percents: Array<number | null>; tracker: PullProgressTracker } {
  const splitter = new JsonLineSplitter();
  const tracker = new PullProgressTracker('vllm/vllm-openai:v0.6.3');
  const percents: Array<number | null> = [];
  const buf = Buffer.from(raw);
  for (let i = 0; i < buf.length; i += chunkSize) {
    for (const m of splitter.push(buf.subarray(i, i + chunkSize))) percents.push(tracker.update(m as PullMessage).percent);
  }
  for (const m of splitter.end()) percents.push(tracker.update(m as PullMessage).percent);
  return { percents, tracker };
}

describe('PullProgressTracker on a recorded pull stream', () => {
  const raw = readFileSync(fixture, 'utf8');

  it('goes from unknown to 100, never backwards, and only reaches 100 at the end', () => {
    const { percents } = replay(raw, 1 << 20);
    expect(percents[0]).toBeNull();
    const known = percents.filter((p): p is number => p !== null);
    for (let i = 1; i < known.length; i++) expect(known[i]).toBeGreaterThanOrEqual(known[i - 1]);
    expect(known.at(-1)).toBe(100);
    expect(known.slice(0, -1).every((p) => p < 100)).toBe(true);
    // Real intermediate values, not a jump from 0 to 100.
    expect(new Set(known).size).toBeGreaterThan(8);
  });

  it('computes percent from layer bytes, with complete layers counted whole', () => {
    const t = new PullProgressTracker('img');
    t.update({ status: 'Pulling from library/img', id: 'latest' });
    t.update({ status: 'Already exists', id: 'aaa', progressDetail: {} });
    t.update({ status: 'Pulling fs layer', id: 'bbb', progressDetail: {} });
    t.update({ status: 'Pulling fs layer', id: 'ccc', progressDetail: {} });
    expect(t.progress().percent).toBeNull();
    expect(t.update({ status: 'Downloading', id: 'bbb', progressDetail: { current: 250, total: 1000 } }).percent).toBe(12); // ccc counted as 1000 until its size is known
    expect(t.update({ status: 'Downloading', id: 'ccc', progressDetail: { current: 0, total: 3000 } }).percent).toBe(12); // 250/4000 = 6: never backwards
    expect(t.update({ status: 'Downloading', id: 'ccc', progressDetail: { current: 1500, total: 3000 } }).percent).toBe(43);
    expect(t.update({ status: 'Download complete', id: 'bbb', progressDetail: {} }).percent).toBe(62);
    const p = t.update({ status: 'Pull complete', id: 'ccc', progressDetail: {} });
    expect(p.percent).toBe(99);
    expect(p.message).toMatch(/pulling img: 3\/3 layers, 4\.0 kB of 4\.0 kB/);
    expect(t.update({ status: 'Status: Downloaded newer image for img:latest' }).percent).toBe(100);
    expect(t.progress()).toEqual({ phase: 'pulling', percent: 100, message: 'pulled img' });
  });

  it('parses the same however the bytes are chunked', () => {
    const whole = replay(raw, 1 << 20).percents;
    expect(replay(raw, 7).percents).toEqual(whole);
    expect(replay(raw, 1).percents).toEqual(whole);
  });

  it('reports an error message in the stream as a failure', () => {
    const t = new PullProgressTracker('img');
    t.update({ status: 'Pulling from library/img', id: 'latest' });
    t.update({ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' });
    expect(t.failed).toBe('manifest unknown');
    expect(t.finish().message).toContain('failed: manifest unknown');
  });
});

describe('JsonLineSplitter', () => {
  it('handles CRLF, blank lines, and objects written back to back', () => {
    const s = new JsonLineSplitter();
    expect(s.push('{"a":1}\r\n\r\n{"b":')).toEqual([{ a: 1 }]);
    expect(s.push('2}{"c":3}\n')).toEqual([{ b: 2 }, { c: 3 }]);
    expect(s.push('{"d":4}')).toEqual([]);
    expect(s.end()).toEqual([{ d: 4 }]);
  });
});

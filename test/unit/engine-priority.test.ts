// The engine's priority spliced into request bodies (pure): only for models started with
// `--scheduling-policy priority`, only on the routes whose vLLM request model has `priority`, only
// when the client did not send its own top-level `priority`; every other byte as the client sent it.

import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../gateway/config/types.js';
import { spliceEnginePriority, usesPriorityScheduling, withEnginePriority } from '../../gateway/proxy/engine-priority.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const docker = (args: string[]) => ({ runtime: 'docker', args }) as unknown as ModelConfig;
const proc = (command: string[], args: string[] = []) => ({ runtime: 'process', command, args }) as unknown as ModelConfig;

describe('usesPriorityScheduling', () => {
  it('reads --scheduling-policy priority (two words or =) in command or args', () => {
    expect(usesPriorityScheduling(docker(['--scheduling-policy', 'priority']))).toBe(true);
    expect(usesPriorityScheduling(docker(['--max-num-seqs', '8', '--scheduling-policy=priority']))).toBe(true);
    expect(usesPriorityScheduling(proc(['vllm', 'serve', 'm', '--scheduling-policy', 'priority']))).toBe(true);
    expect(usesPriorityScheduling(proc(['bash', '-c', 'exec vllm serve m --scheduling-policy priority --port 8000']))).toBe(true);
  });

  it('not for fcfs, a look-alike flag, or a remote model', () => {
    expect(usesPriorityScheduling(docker(['--scheduling-policy', 'fcfs']))).toBe(false);
    expect(usesPriorityScheduling(docker(['--scheduling-policy', 'priority', '--scheduling-policy', 'fcfs']))).toBe(false);
    expect(usesPriorityScheduling(proc(['vllm', 'serve', 'm', '--scheduling-policy=fcfs'], ['--scheduling_policy', 'priority']))).toBe(
      true,
    );
    expect(usesPriorityScheduling(docker(['--scheduling-policy=priority-ish']))).toBe(false);
    expect(usesPriorityScheduling(docker(['--x-scheduling-policy', 'priority']))).toBe(false);
    expect(usesPriorityScheduling(docker([]))).toBe(false);
    expect(usesPriorityScheduling({ runtime: 'remote', url: 'http://h' } as unknown as ModelConfig)).toBe(false);
  });
});

describe('spliceEnginePriority', () => {
  it('inserts "priority":N right after the opening brace; nothing else changes', () => {
    const body = '{"model":"m", "n": 1.0, "big": 12345678901234567890, "messages":[{"role":"user","content":"hé"}]}';
    expect(spliceEnginePriority(b(body), 'batch').toString()).toBe(`{"priority":1,${body.slice(1)}`);
    expect(spliceEnginePriority(b(body), 'interactive').toString()).toBe(`{"priority":0,${body.slice(1)}`);
    expect(spliceEnginePriority(b('  \n{ "model":"m" }'), 'batch').toString()).toBe('  \n{"priority":1, "model":"m" }');
    expect(spliceEnginePriority(b('{}'), 'batch').toString()).toBe('{"priority":1}');
    expect(spliceEnginePriority(b('{ \n}'), 'batch').toString()).toBe('{"priority":1 \n}');
    expect(JSON.parse(spliceEnginePriority(b(body), 'batch').toString())).toMatchObject({ priority: 1, model: 'm', n: 1 });
  });

  it('keeps a client’s own top-level priority (also written with escapes), and sees nested ones for what they are', () => {
    const own = b('{"model":"m","priority":-5}');
    expect(spliceEnginePriority(own, 'batch')).toBe(own);
    const escaped = b('{"model":"m","pri\\u006frity":3}');
    expect(spliceEnginePriority(escaped, 'batch')).toBe(escaped);
    const nested = '{"model":"m","messages":[{"role":"user","content":"\\"priority\\": 9","priority":2}],"x":{"priority":1}}';
    expect(spliceEnginePriority(b(nested), 'batch').toString()).toBe(`{"priority":1,${nested.slice(1)}`);
  });

  it('leaves anything but a JSON object alone', () => {
    const arr = b('[1,2]');
    expect(spliceEnginePriority(arr, 'batch')).toBe(arr);
  });
});

describe('withEnginePriority', () => {
  const flagged = docker(['--scheduling-policy', 'priority']);
  const body = b('{"model":"m","input":"x"}');

  it('on the routes vLLM reads `priority` on', () => {
    for (const path of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/rerank', '/v1/score?x=1']) {
      expect(withEnginePriority(body, flagged, path, 'batch').toString(), path).toBe('{"priority":1,"model":"m","input":"x"}');
    }
  });

  it('not on the others, and never without the flag: the same bytes', () => {
    for (const path of ['/tokenize', '/detokenize', '/v1/messages', '/v1/audio/transcriptions']) {
      expect(withEnginePriority(body, flagged, path, 'batch'), path).toBe(body);
    }
    expect(withEnginePriority(body, docker(['--max-num-seqs', '4']), '/v1/chat/completions', 'batch')).toBe(body);
  });
});

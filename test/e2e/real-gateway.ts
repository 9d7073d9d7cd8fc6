// A real gateway (createGateway, port 0) with mock vLLM process models and the dashboard served by
// the real registerUi(), for the browser end-to-end tests. Its log lines are kept in memory and
// printed only when asked (a failing test).
import { Writable } from 'node:stream';
import pino from 'pino';
import { registerUi } from '../../gateway/http/ui-route.js';
import { createGateway, type Gateway } from '../../gateway/index.js';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { findModel, MOCK_SERVE_ARGS, parseYaml } from '../integration/helpers.js';

export { MOCK_VLLM } from '../integration/helpers.js';

/** The command of a mock vLLM process model, as a YAML flow list, with extra `--mock-*` knobs. */
export function mockCommand(...knobs: Array<string | number>): string {
  return JSON.stringify([process.execPath, ...MOCK_SERVE_ARGS, ...knobs.map(String)]);
}

export interface MockModel {
  id: string;
  vramGiB: number;
  knobs?: Array<string | number>;
  /** More keys of the model, as YAML lines (`maxConcurrent: 1`). */
  extra?: string[];
}

export interface RealGateway {
  gw: Gateway;
  url: string;
  adminToken: string;
  logs: string[];
  status(): StatusDocument;
  model(id: string): ModelStatus;
  /** POST /gateway/models/{id}/{action} with the admin token (and the API key when one is set). */
  admin(action: 'load' | 'unload', id: string, query?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startRealGateway(opts: {
  distDir: string;
  models: MockModel[];
  apiKeys?: string[];
  adminToken?: string;
  /** gpu.pollSeconds: also how often the engines' /metrics are read. */
  pollSeconds?: number;
}): Promise<RealGateway> {
  const adminToken = opts.adminToken ?? 'e2e-admin-token-0123456789abcdef';
  const models = opts.models
    .map((m) =>
      [
        `  ${m.id}:`,
        `    runtime: process`,
        `    command: ${mockCommand(...(m.knobs ?? []))}`,
        `    vramGiB: ${m.vramGiB}`,
        ...(m.extra ?? []).map((l) => `    ${l}`),
      ].join('\n'),
    )
    .join('\n');
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
auth: { adminToken: ${adminToken}, apiKeys: ${JSON.stringify(opts.apiKeys ?? [])} }
limits: { queueTimeoutSeconds: 30 }
retry: { maxAttempts: 2, initialDelaySeconds: 0.05, backoff: 2 }
timeouts: { connectSeconds: 2, firstByteSeconds: 20, idleSeconds: 20, startSeconds: 15 }
shutdown: { drainSeconds: 1 }
gpu: { probe: static, pollSeconds: ${opts.pollSeconds ?? 1}, reserveGiB: 0.5, static: [{ name: "Simulated GPU", totalGiB: 24 }] }
defaults: { ttlSeconds: 1800 }
models:
${models}
`;
  const config = parseYaml(yaml, '<inline>', 'e2e');

  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk).trimEnd());
      if (logs.length > 2000) logs.splice(0, 500);
      cb();
    },
  });
  const gw = await createGateway(config, {
    logger: pino({ level: 'info', base: undefined }, sink),
    registerUi: (app) => registerUi(app, { distDir: opts.distDir }),
  });
  const url = await gw.listen();
  let closing: Promise<void> | null = null;
  return {
    gw,
    url,
    adminToken,
    logs,
    status: () => gw.status(),
    model: (id) => findModel(gw, id),
    admin(action, id, query = '') {
      return fetch(`${url}/gateway/models/${encodeURIComponent(id)}/${action}${query}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${adminToken}` },
      });
    },
    close() {
      closing ??= Promise.race([gw.close(), new Promise<void>((r) => setTimeout(r, 8000))]).catch(() => undefined);
      return closing;
    },
  };
}

/** A chat completion through the gateway; resolves to its HTTP status (0 when the transport failed). */
export async function chat(
  url: string,
  model: string,
  opts: { delayMs?: number; key?: string; signal?: AbortSignal } = {},
): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.delayMs) headers['x-mock-delay-ms'] = String(opts.delayMs);
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 }),
      signal: opts.signal,
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

#!/usr/bin/env node
// The benchmark's floor reference (`npm run bench`): the cheapest proxy the gateway's own stack
// allows. A Fastify route that takes the body as bytes, hijacks the reply and forwards with
// undici's `dispatch` (the same Agent settings as the gateway), streaming the answer back with
// backpressure and aborting the upstream request when the client goes away (as the Go reference's
// request context does). Nothing else: no logging, ids, guards, admission, metrics or retries, so
// the gateway's cost above this is the cost of what it promises.
//
//   node test/bench/floor-proxy.mjs LISTEN_PORT UPSTREAM_URL
import Fastify from 'fastify';
import { Agent } from 'undici';

const [port, upstream] = process.argv.slice(2);
if (!port || !upstream) {
  console.error('usage: floor-proxy.mjs LISTEN_PORT UPSTREAM_URL');
  process.exit(2);
}
const origin = new URL(upstream).origin;
const dispatcher = new Agent({ keepAliveTimeout: 4000, connections: null, pipelining: 1 });
const app = Fastify({ logger: false, keepAliveTimeout: 65_000, requestTimeout: 0, connectionTimeout: 0 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'content-length']);

function forward(request, reply) {
  reply.hijack();
  const res = reply.raw;
  const body = request.body;
  const headers = {};
  for (const k in request.headers) if (!HOP_BY_HOP.has(k)) headers[k] = request.headers[k];
  headers['content-length'] = String(body ? body.length : 0);
  let controller = null;
  res.once('close', () => {
    if (!res.writableEnded) controller?.abort(new Error('client went away'));
  });
  dispatcher.dispatch(
    { origin, method: request.method, path: request.url, headers, body },
    {
      onRequestStart(c) {
        controller = c;
      },
      onResponseStart(_c, status, h) {
        const out = {};
        for (const k in h) if (!HOP_BY_HOP.has(k) || k === 'content-length') out[k] = h[k];
        res.writeHead(status, out);
        if (String(h['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError(_c, err) {
        if (res.headersSent) res.destroy(err);
        else {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(String(err.message));
        }
      },
    },
  );
}

// The path the bench sends to, as a static route like the gateway's own.
for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings']) app.post(p, forward);
await app.listen({ host: '127.0.0.1', port: Number(port) });
console.log(`floor-proxy listening on http://127.0.0.1:${app.server.address().port}, forwarding to ${origin}`);
for (const s of ['SIGTERM', 'SIGINT']) process.once(s, () => app.close().then(() => process.exit(0)));

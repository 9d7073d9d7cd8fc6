import type http from 'node:http';

/**
 * Node's HTTP server settings for every port the gateway listens on (server.ts's main port and
 * ollama-listener.ts's listen.ollamaPort), so each refuses slow, ambiguous and malformed requests alike.
 */
export function nodeServerOptions(idleMs: number): http.ServerOptions {
  return {
    // A request's headers and body must arrive within timeouts.idleSeconds of its start (408
    // then); the response that follows is bounded by the upstream timeouts, not by this. Node
    // checks every connection once a second, so it costs nothing per request.
    requestTimeout: idleMs,
    // Slow-header clients (slowloris) are cut after 30 s (or idleSeconds, when shorter).
    headersTimeout: Math.min(30_000, idleMs),
    connectionsCheckingInterval: 1000,
    // A request without Host reaches the access check, which answers it in the error shape;
    // Node's own refusal is a bare 400.
    requireHostHeader: false,
    // A repeated header is kept whole ("a, b"), not reduced to its first line: two Host headers are
    // refused by the access check (RFC 9112 §3.2), two Authorization headers match no key.
    joinDuplicateHeaders: true,
  };
}

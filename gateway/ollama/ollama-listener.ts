// The second listener, on listen.ollamaPort (docs/configuration.md): the same Fastify instance answers there
// (app.routing, the handler Fastify gives its own server), so every route, hook, Host/Origin/API
// key check and error handler is the one of the main port. Only GET / tells the ports apart.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { nodeServerOptions } from '../http/node-server-options.js';

const ollamaSockets = new WeakSet<Socket>();

/** Did this connection come in on an Ollama listener? */
export function onOllamaPort(socket: Socket): boolean {
  return ollamaSockets.has(socket);
}

export class OllamaPortInUseError extends Error {
  constructor(host: string, port: number, cause: unknown) {
    super(
      `listen.ollamaPort ${port} on ${host} is already in use — is Ollama running? Stop it (e.g. \`systemctl stop ollama\`), ` +
        'or set listen.ollamaPort to a free port (or null)',
      { cause },
    );
    this.name = 'OllamaPortInUseError';
  }
}

export interface OllamaListener {
  readonly port: number;
  close(): Promise<void>;
  /** Cuts every connection (the drain time is over). */
  closeAllConnections(): void;
}

export async function listenOllama(app: FastifyInstance, host: string, port: number): Promise<OllamaListener> {
  const main = app.server;
  // The main port's settings: the same request timeouts, Host and repeated-header rules.
  const server = http.createServer(nodeServerOptions(main.requestTimeout), app.routing as http.RequestListener);
  server.keepAliveTimeout = main.keepAliveTimeout;
  server.timeout = main.timeout;
  // Malformed requests, `Expect` headers and CONNECT are answered as on the main port (the same handlers).
  for (const event of ['clientError', 'checkContinue', 'checkExpectation', 'connect']) {
    for (const l of main.listeners(event)) server.on(event, l as (...args: unknown[]) => void);
  }
  server.on('connection', (socket: Socket) => ollamaSockets.add(socket));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new OllamaPortInUseError(host, port, err) : err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  let closing: Promise<void> | null = null;
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    closeAllConnections: () => server.closeAllConnections(),
    close() {
      // Like the main server's close: stop accepting, cut idle kept-alive connections now and the
      // others as they become idle (their streams are drained by the gateway's shutdown).
      closing ??= new Promise<void>((resolve) => {
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        sweep.unref();
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

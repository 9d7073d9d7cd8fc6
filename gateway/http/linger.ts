// Lingering close for a request whose body the gateway refused (nginx's `lingering_close`): the
// answer (413, or 400 for a body that does not match its length) goes out with `Connection: close`,
// but a client that writes its whole body before it reads (the OpenAI SDK, undici, curl without
// `Expect`) is still sending. Closing the socket at once makes the kernel reset the connection when
// those bytes arrive, and the client sees EPIPE or ECONNRESET instead of the answer. So the gateway
// half-closes (FIN after the answer) and reads on, discarding, until the client closes too, for at
// most LINGER_MS and `maxBytes`: a body that never ends (`Content-Length: 1 TiB`) still costs a
// bounded amount, and nothing of it is kept.

import type { Socket } from 'node:net';

/** Longest wait for the client to stop sending once it has been answered. */
export const LINGER_MS = 2000;

const lingering = new WeakSet<Socket>();

/**
 * Makes the server's close of `socket` once the answer is written (Node's `destroySoon`, which
 * http.Server calls for a `Connection: close` response) a lingering one.
 */
export function lingerBeforeClose(socket: Socket, maxBytes: number, ms = LINGER_MS): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    if (this.writable) this.end(); // the answer, then FIN
    let read = 0;
    const stop = () => {
      clearTimeout(timer);
      this.destroy();
    };
    const timer = setTimeout(stop, ms);
    timer.unref();
    this.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) stop();
    });
    this.once('end', stop);
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

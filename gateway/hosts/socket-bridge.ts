// A local listener whose every accepted connection is piped into a fresh ssh channel: how
// dockerode (which speaks HTTP over a unix socket) and the proxy (HTTP to 127.0.0.1:port) use the
// host's one ssh connection without knowing about ssh. A connection whose channel cannot be
// opened (host unreachable, nothing listening there) is closed at once, so the caller fails fast.

import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface SocketBridge {
  readonly server: net.Server;
  /** Connections piped right now. */
  readonly active: number;
  close(): Promise<void>;
}

export function bridge(server: net.Server, open: () => Promise<Duplex>, onError?: (err: Error) => void): SocketBridge {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pause();
    open().then(
      (channel) => {
        if (socket.destroyed) return void channel.destroy();
        channel.on('error', () => socket.destroy());
        channel.once('close', () => socket.destroy());
        socket.once('close', () => channel.destroy());
        socket.pipe(channel).pipe(socket);
        socket.resume();
      },
      (err: Error) => {
        onError?.(err);
        socket.destroy();
      },
    );
  });
  return {
    server,
    get active() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Listens on `listen` (a unix socket path, or {host, port}) and bridges as above. */
export async function listenBridge(
  listen: string | { host: string; port: number },
  open: () => Promise<Duplex>,
  onError?: (err: Error) => void,
): Promise<SocketBridge & { address: string | net.AddressInfo }> {
  const server = net.createServer({ allowHalfOpen: false, noDelay: true });
  const b = bridge(server, open, onError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof listen === 'string') server.listen(listen, () => resolve());
    else server.listen(listen.port, listen.host, () => resolve());
  });
  server.unref();
  return Object.assign(b, { address: server.address()! });
}

// The ports of a host's models, reachable here: a model's container publishes on the host's own
// 127.0.0.1 (nothing on the LAN), and each such port gets a 127.0.0.1 listener on this machine
// whose connections are forwarded through the host's ssh connection (forwardOut).

import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { listenBridge, type SocketBridge } from './socket-bridge.js';

export class PortForwards {
  private readonly byRemote = new Map<number, Promise<SocketBridge & { address: string | AddressInfo }>>();

  constructor(private readonly open: (remotePort: number) => Promise<Duplex>) {}

  /** The local port that reaches `remotePort` on the host (made on first use, then kept). */
  async localPort(remotePort: number): Promise<number> {
    let b = this.byRemote.get(remotePort);
    if (!b) {
      b = listenBridge({ host: '127.0.0.1', port: 0 }, () => this.open(remotePort));
      this.byRemote.set(remotePort, b);
      b.catch(() => this.byRemote.delete(remotePort));
    }
    return ((await b).address as AddressInfo).port;
  }

  /** Stops forwarding `remotePort` (its model's container is gone). */
  async release(remotePort: number): Promise<void> {
    const b = this.byRemote.get(remotePort);
    this.byRemote.delete(remotePort);
    await (await b?.catch(() => undefined))?.close();
  }

  get size(): number {
    return this.byRemote.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.byRemote.keys()];
    await Promise.all(all.map((p) => this.release(p)));
  }
}

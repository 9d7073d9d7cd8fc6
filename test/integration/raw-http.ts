// Raw HTTP/1.1 over a socket, for requests an HTTP client library will not send (absolute-form
// targets, Connection-listed headers, malformed framing, half-sent bodies, clients that never read).

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Every byte the server sent, interim responses (100 Continue) included. */
  raw: string;
}

/** Parses the last complete response in `raw` (after any 1xx interim ones). */
export function parseResponse(raw: string): RawResponse | null {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    const after = rest.slice(end + 4);
    if (status >= 100 && status < 200) {
      rest = after;
      continue;
    }
    const length = headers['content-length'];
    if (length !== undefined && Buffer.byteLength(after) < Number(length)) return null;
    return { status, headers, body: length !== undefined ? after.slice(0, Number(length)) : after, raw };
  }
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends `request` (a string or bytes, as is) and resolves with the response once the server has
 * sent a complete one or closed the connection.
 */
export async function rawRequest(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  const socket = await openSocket(port);
  return new Promise((resolve, reject) => {
    let raw = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms; got: ${JSON.stringify(raw.slice(0, 500))}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const r = parseResponse(raw);
      socket.destroy();
      if (r) resolve(r);
      else reject(new Error(`connection closed without a complete response: ${JSON.stringify(raw.slice(0, 500))}`));
    };
    socket.on('data', (c: Buffer) => {
      raw += c.toString('latin1');
      if (parseResponse(raw)) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
    socket.write(request);
  });
}

/** The OpenAI error of a raw response, checking its shape (four keys). */
export function rawError(r: RawResponse): { code: string; type: string; message: string; param: unknown } {
  const e = JSON.parse(r.body).error;
  if (!e || Object.keys(e).sort().join(',') !== 'code,message,param,type') throw new Error(`not an OpenAI error: ${r.body}`);
  return e;
}

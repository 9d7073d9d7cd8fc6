// Reading a request's body within limits.maxBodyBytes: the one reader for every entry (the fast
// path reads with it directly, Fastify's content-type parser in server.ts hands it the request).

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { errors, type GatewayError } from '../errors.js';

/** Whether the announced Content-Length is over `limit` (answered 413 before any byte is read). */
export function announcedOverLimit(headers: IncomingHttpHeaders, limit: number): boolean {
  return Number(headers['content-length']) > limit; // NaN (none, or not a number) is never over
}

/**
 * The request's body as bytes (undefined when it has none), within `limit`: 413 over the limit
 * (announced or counted), 400 for a length that does not match what came (Fastify's wording, as
 * its buffer parser answered before this reader replaced it).
 */
export function readBody(req: IncomingMessage, limit: number, done: (err: GatewayError | null, body?: Buffer) => void): void {
  const lengthHeader = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (lengthHeader === undefined || lengthHeader === '0')) {
    // No body: Fastify passes none when the request has no Content-Type, an empty one otherwise.
    done(null, req.headers['content-type'] === undefined ? undefined : Buffer.alloc(0));
    return;
  }
  const length = Number(lengthHeader);
  if (announcedOverLimit(req.headers, limit)) return done(errors.bodyTooLarge());
  const chunks: Buffer[] = [];
  let received = 0;
  const cleanup = () => {
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('error', onError);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) {
      cleanup();
      done(errors.bodyTooLarge());
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => {
    cleanup();
    if (!Number.isNaN(length) && received !== length) {
      done(errors.bodyLengthMismatch());
      return;
    }
    // A copy, as Fastify makes: the body outlives this event (it may wait in a queue), and a
    // parser's chunk must not be trusted to stay unchanged that long.
    done(null, Buffer.concat(chunks, received));
  };
  const onError = (err: Error) => {
    cleanup();
    done(errors.bodyUnreadable(err.message, { cause: err }));
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

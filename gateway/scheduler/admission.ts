// Admission's rule, once: whether a request for a model is refused at once, served at once, or
// waits in the model's queue. Pure, over a snapshot of the facts (the clock among them): the
// coordinator's admit() carries the decision out, and the HTTP side asks the same question before
// it commits to an answer (a streamed request that will wait hears progress comments).

import { errors, type GatewayError } from '../errors.js';
import { serving, type Phase } from './lifecycle.js';
import type { Priority } from './priority.js';

export interface AdmissionFacts {
  /** The model's id, for the messages. */
  id: string;
  phase: Phase;
  /** When a failed model may be started again (epoch ms), and why it failed. */
  coolDownUntil: number;
  error: string | null;
  /** The request's class (priority.ts). */
  priority: Priority;
  queued: number;
  /** Of those waiting, how many are batch requests. */
  batchQueued: number;
  inFlight: number;
  maxQueue: number;
  maxConcurrent: number;
  shuttingDown: boolean;
  /** The client is already gone: it is never handed a slot (its queue ticket is cancelled at once). */
  clientGone: boolean;
  now: number;
}

export type Admission =
  | { kind: 'refuse'; error: GatewayError }
  /** Serving, nobody waiting and a slot free: in flight at once (the hot path: no timer, no listener). */
  | { kind: 'now' }
  /**
   * Join the queue and wait for the model and a slot. `displaced`: the queue is full and this
   * request takes the place of the batch request that joined last, refused with this error.
   */
  | { kind: 'queue'; displaced: GatewayError | null };

const NOW: Admission = { kind: 'now' };
const QUEUE: Admission = { kind: 'queue', displaced: null };

export function decideAdmission(f: AdmissionFacts): Admission {
  const refused = startRefusal(f);
  if (refused) return { kind: 'refuse', error: refused };
  if (serving(f.phase) && !f.clientGone && f.queued === 0 && f.inFlight < f.maxConcurrent) return NOW;
  // The bound holds only for those who wait (P8): with maxQueue 0 a free slot still serves at once.
  if (f.queued < f.maxQueue) return QUEUE;
  // Full: an interactive request takes the place of the batch request that joined last (refused
  // as it would have been had it come after), so a batch job that fills the queue never turns an
  // IDE's completion away; anything else is refused.
  if (f.priority === 'interactive' && f.batchQueued > 0) return { kind: 'queue', displaced: errors.queueFullDisplaced(f.maxQueue) };
  return { kind: 'refuse', error: errors.queueFull(f.maxQueue) };
}

/**
 * Why nothing may ask this model to start now, or null: the gateway is shutting down, or the model
 * failed to start and is cooling down. A request and an explicit load are refused alike.
 */
export function startRefusal(
  f: Pick<AdmissionFacts, 'id' | 'phase' | 'coolDownUntil' | 'error' | 'shuttingDown' | 'now'>,
): GatewayError | null {
  if (f.shuttingDown) return errors.shuttingDown();
  const coolingMs = f.coolDownUntil - f.now;
  if (f.phase !== 'failed' || coolingMs <= 0) return null;
  const seconds = Math.ceil(coolingMs / 1000);
  return errors.coolingDown(f.id, seconds, f.error ?? '', { retryAfter: seconds });
}

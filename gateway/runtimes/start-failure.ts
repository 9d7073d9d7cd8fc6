// The one wording of a failed start: the reason, then the server's last lines (where the CUDA
// error or the bad flag is), for both runtimes and the health wait.

import { errors, type GatewayError } from '../errors.js';

export function startFailureError(reason: string, outputTail: string, cause?: unknown): GatewayError {
  const tail = outputTail.trimEnd();
  const message = tail ? `${reason}. Last lines of its output:\n${tail}` : `${reason} (it printed nothing)`;
  return errors.startFailed(message, { cause });
}

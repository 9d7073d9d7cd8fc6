// Translates dockerode / Engine API failures at the edge (docs/architecture.md rule 4) into messages a
// workstation user can act on. The original error is kept as `cause`.

import { errors, GatewayError } from '../errors.js';

export const DOCKER_NOT_RUNNING = 'Docker is not running: start it with `sudo systemctl start docker`';
export const DOCKER_PERMISSION =
  'Permission denied on the Docker socket: add your user to the docker group: `sudo usermod -aG docker $USER`, then log in again';
export const NVIDIA_TOOLKIT =
  'Docker cannot give this container a GPU: install the NVIDIA Container Toolkit ' +
  '(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), ' +
  'then run `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; ' +
  'or set `docker.gpuRequests: false` on machines without NVIDIA GPUs';

interface ErrorLike {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  address?: unknown;
  statusCode?: unknown;
  reason?: unknown;
  json?: unknown;
  message?: unknown;
}

function asErrorLike(err: unknown): ErrorLike {
  return err !== null && typeof err === 'object' ? (err as ErrorLike) : {};
}

/** The engine's own message (dockerode puts the JSON body in `json`), else the error's message. */
export function engineMessage(err: unknown): string {
  const e = asErrorLike(err);
  const json = e.json;
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message.trim();
  }
  if (typeof json === 'string' && json.trim()) {
    try {
      const parsed = JSON.parse(json) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message.trim();
    } catch {
      return json.trim();
    }
  }
  if (Buffer.isBuffer(json)) return engineMessage({ json: json.toString('utf8') });
  if (typeof e.message === 'string') {
    // dockerode: "(HTTP code 404) no such container - No such container: abc "
    const m = /^\(HTTP code \d+\)\s*[^-]*-\s*(.*)$/s.exec(e.message);
    return (m ? m[1] : e.message).trim();
  }
  return String(err);
}

export function statusCode(err: unknown): number | null {
  const s = asErrorLike(err).statusCode;
  return typeof s === 'number' ? s : null;
}

/** The socket is absent or refuses: the daemon is not running (or DOCKER_HOST names nothing). */
export function isDaemonUnreachable(err: unknown): boolean {
  const code = asErrorLike(err).code;
  return (
    code === 'ENOENT' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND'
  );
}

export function isPermissionDenied(err: unknown): boolean {
  const code = asErrorLike(err).code;
  return code === 'EACCES' || code === 'EPERM';
}

export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

/** Name already in use: 409 from Docker; some engines (Podman, old versions) answer 400/500. */
export function isNameConflict(err: unknown): boolean {
  const s = statusCode(err);
  const msg = engineMessage(err);
  return s === 409 || ((s === 400 || s === 500) && /already in use|conflict/i.test(msg));
}

/** Removal already under way (409 "removal of container … is already in progress"). */
export function isRemovalInProgress(err: unknown): boolean {
  return /removal of container .* is already in progress/i.test(engineMessage(err));
}

export function isNoSuchImage(err: unknown): boolean {
  return statusCode(err) === 404 && /no such image|not found/i.test(engineMessage(err));
}

export function isGpuDriverMissing(err: unknown): boolean {
  return /could not select device driver ".*" with capabilities: \[\[gpu\]\]/i.test(engineMessage(err));
}

/** Whether a connection-level failure (socket) rather than an answer from the engine. */
export function connectionReason(err: unknown, where: string): string | null {
  if (isPermissionDenied(err)) return DOCKER_PERMISSION;
  if (isDaemonUnreachable(err)) {
    return where.startsWith('tcp://') || where.startsWith('http')
      ? `Docker is not reachable at ${where}: is the daemon running and listening there?`
      : `${DOCKER_NOT_RUNNING} (no daemon answers on ${where})`;
  }
  return null;
}

/** The reason the runtime cannot start models, phrased for a user (GET /ready). */
export function healthReason(err: unknown, where: string): string {
  return connectionReason(err, where) ?? `Docker engine error: ${engineMessage(err)}`;
}

/**
 * A failure while starting `modelId` → GatewayError('model_start_failed'). `what` says which step
 * failed ("creating the container", "pulling vllm/vllm-openai:latest").
 */
export function startError(err: unknown, opts: { modelId: string; where: string; what: string }): GatewayError {
  if (err instanceof GatewayError) return err;
  const conn = connectionReason(err, opts.where);
  if (conn) return errors.startStep(opts.modelId, conn, { cause: err });
  if (isGpuDriverMissing(err)) return errors.startStep(opts.modelId, NVIDIA_TOOLKIT, { cause: err });
  return errors.dockerStepFailed(opts.modelId, opts.what, engineMessage(err), { cause: err });
}

export function imageMissingError(modelId: string, image: string): GatewayError {
  return errors.imageMissing(modelId, image);
}

export function pullError(modelId: string, image: string, err: unknown, where: string): GatewayError {
  const conn = connectionReason(err, where);
  const detail = conn ?? (err instanceof Error || typeof err === 'object' ? engineMessage(err) : String(err));
  const hint = conn
    ? ''
    : /dial tcp|no such host|lookup|timeout|connection refused|network is unreachable|TLS handshake/i.test(detail)
      ? ' (the registry cannot be reached: check the network or proxy, or load the image with `docker load`)'
      : /unauthorized|denied|not found|manifest unknown/i.test(detail)
        ? ' (check the image name, or `docker login` for a private registry)'
        : '';
  return errors.pullFailed(modelId, image, detail + hint, { cause: err });
}

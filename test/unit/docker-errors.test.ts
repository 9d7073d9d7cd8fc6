// Error shapes below are what dockerode 5 produced against Docker 20.10 (recorded).
import { describe, expect, it } from 'vitest';
import {
  DOCKER_NOT_RUNNING,
  engineMessage,
  healthReason,
  imageMissingError,
  isGpuDriverMissing,
  isNameConflict,
  isNoSuchImage,
  isNotFound,
  pullError,
  startError,
} from '../../gateway/runtimes/docker-errors.js';
import { GatewayError } from '../../gateway/errors.js';

function dockerodeError(statusCode: number, reason: string | undefined, message: string): Error {
  const err = new Error(`(HTTP code ${statusCode}) ${reason ?? 'unexpected'} - ${message} `) as Error & Record<string, unknown>;
  err.statusCode = statusCode;
  if (reason) err.reason = reason;
  err.json = { message };
  return err;
}
function sysError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const noContainer = dockerodeError(404, 'no such container', 'No such container: nope-xyz');
const noImage = dockerodeError(404, 'no such image', 'no such image: nope/xyz:1: No such image: nope/xyz:1');
const conflict = dockerodeError(
  409,
  undefined,
  'Conflict. The container name "/vllm-gw-x" is already in use by container "f498d88". You have to remove (or rename) that container to be able to reuse that name.',
);
const podmanConflict = dockerodeError(
  500,
  'server error',
  'error creating container storage: the container name "vllm-gw-x" is already in use by "abc"',
);
const gpu = dockerodeError(500, 'server error', 'could not select device driver "" with capabilities: [[gpu]]');
const enoent = sysError('ENOENT', 'connect ENOENT /var/run/docker.sock');
const refused = sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:2375');
const eacces = sysError('EACCES', 'connect EACCES /var/run/docker.sock');

describe('docker error translation', () => {
  it('reads the engine message out of dockerode errors', () => {
    expect(engineMessage(noContainer)).toBe('No such container: nope-xyz');
    expect(engineMessage(new Error('(HTTP code 502) bad gateway - upstream down '))).toBe('upstream down');
    expect(engineMessage(enoent)).toBe('connect ENOENT /var/run/docker.sock');
    expect(engineMessage({ json: Buffer.from('{"message":"from buffer"}') })).toBe('from buffer');
  });

  it('classifies not-found, missing image, name conflict (409, and the 400/500 some engines send) and the GPU driver error', () => {
    expect(isNotFound(noContainer)).toBe(true);
    expect(isNoSuchImage(noImage)).toBe(true);
    expect(isNoSuchImage(noContainer)).toBe(false);
    expect(isNameConflict(conflict)).toBe(true);
    expect(isNameConflict(podmanConflict)).toBe(true);
    expect(isNameConflict(dockerodeError(400, 'bad parameter', 'Conflict. The container name is already in use'))).toBe(true);
    expect(isNameConflict(gpu)).toBe(false);
    expect(isGpuDriverMissing(gpu)).toBe(true);
    expect(
      isGpuDriverMissing(dockerodeError(500, 'server error', 'could not select device driver "nvidia" with capabilities: [[gpu]]')),
    ).toBe(true);
  });

  it('tells the user how to start Docker, join the docker group, or reach a tcp daemon', () => {
    expect(healthReason(enoent, '/var/run/docker.sock')).toBe(`${DOCKER_NOT_RUNNING} (no daemon answers on /var/run/docker.sock)`);
    expect(healthReason(enoent, '/var/run/docker.sock')).toContain('sudo systemctl start docker');
    expect(healthReason(eacces, '/var/run/docker.sock')).toContain('sudo usermod -aG docker $USER');
    expect(healthReason(eacces, '/var/run/docker.sock')).toContain('log in again');
    expect(healthReason(refused, 'tcp://127.0.0.1:2375')).toContain('Docker is not reachable at tcp://127.0.0.1:2375');
    expect(healthReason(dockerodeError(500, 'server error', 'boom'), '/var/run/docker.sock')).toBe('Docker engine error: boom');
  });

  it('makes start failures model_start_failed, keeping the cause', () => {
    const e = startError(gpu, { modelId: 'qwen', where: '/var/run/docker.sock', what: 'starting the container' });
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.code).toBe('model_start_failed');
    expect(e.status).toBe(503);
    expect(e.message).toContain('NVIDIA Container Toolkit');
    expect(e.message).toContain('docker.gpuRequests: false');
    expect(e.cause).toBe(gpu);
    const d = startError(enoent, { modelId: 'qwen', where: '/var/run/docker.sock', what: 'creating the container' });
    expect(d.message).toContain('Docker is not running');
    const o = startError(conflict, { modelId: 'qwen', where: '/var/run/docker.sock', what: 'creating the container' });
    expect(o.message).toMatch(/^model qwen: creating the container failed: Conflict/);
    const g = new GatewayError('model_start_failed', 'already translated');
    expect(startError(g, { modelId: 'x', where: '', what: '' })).toBe(g);
  });

  it('says what to do about a missing image under pull: never, and about an unreachable registry', () => {
    const m = imageMissingError('qwen', 'vllm/vllm-openai:latest');
    expect(m.code).toBe('model_start_failed');
    expect(m.message).toContain('vllm/vllm-openai:latest is not on this machine and docker.pull is "never"');
    expect(m.message).toContain('docker pull vllm/vllm-openai:latest');
    const p = pullError(
      'qwen',
      'vllm/vllm-openai:latest',
      dockerodeError(500, 'server error', 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'),
      '/var/run/docker.sock',
    );
    expect(p.code).toBe('model_start_failed');
    expect(p.message).toContain('pulling image vllm/vllm-openai:latest failed');
    expect(p.message).toContain('the registry cannot be reached');
    const u = pullError(
      'qwen',
      'private/x:1',
      new Error("pull access denied for private/x, repository does not exist or may require 'docker login'"),
      '/s',
    );
    expect(u.message).toContain('docker login');
  });
});

// Where the Docker engine is: DOCKER_HOST (unix:// or tcp://) wins over `docker.socketPath`.

import type Dockerode from 'dockerode';
import type { GatewayConfig } from '../config/types.js';
import { errors } from '../errors.js';

export type DockerConfig = GatewayConfig['docker'];

/** dockerode's connection options from the config, and how to name that place in messages. */
export function dockerConnection(config: Pick<DockerConfig, 'socketPath' | 'dockerHost'>): {
  options: Dockerode.DockerOptions;
  where: string;
} {
  const host = config.dockerHost?.trim();
  if (host) {
    if (host.startsWith('unix://')) {
      const socketPath = host.slice('unix://'.length) || '/var/run/docker.sock';
      return { options: { socketPath }, where: socketPath };
    }
    if (/^(tcp|http|https):\/\//.test(host) || !host.includes('://')) {
      const url = new URL(host.includes('://') ? host : `tcp://${host}`);
      // 2376 is Docker's TLS port by convention.
      const protocol = url.protocol === 'https:' || url.port === '2376' ? 'https' : 'http';
      return {
        options: { host: url.hostname, port: url.port || (protocol === 'https' ? 2376 : 2375), protocol },
        where: `tcp://${url.host}`,
      };
    }
    throw errors.dockerHostUnsupported(host);
  }
  return { options: { socketPath: config.socketPath }, where: config.socketPath };
}

// A proxied request's class (interactive or batch) from its headers: X-Priority, else the class of
// the API key it carries, else scheduling.defaultPriority (the rule itself: scheduler/priority.ts).

import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import { requestPriority, type Priority } from '../scheduler/priority.js';
import { apiKeyHeader, bearer } from './guards.js';

export type PriorityOf = (headers: IncomingHttpHeaders) => Priority;

export function createPriorityOf(config: Pick<GatewayConfig, 'auth'> & { scheduling?: Partial<GatewayConfig['scheduling']> }): PriorityOf {
  // Configs built in code may lack the newer keys.
  const byKey = new Map((config.auth.keyPriorities ?? []).map((k) => [k.key, k.priority]));
  const defaultPriority = config.scheduling?.defaultPriority ?? 'interactive';
  return function priorityOf(headers) {
    const header = headers['x-priority'];
    // The usual request (no X-Priority, no key classes) takes the default without building the facts.
    if (header === undefined && byKey.size === 0) return defaultPriority;
    // The access check (access.ts) has already let the key in; this only reads its class.
    const key = byKey.size > 0 ? (bearer(headers.authorization) ?? apiKeyHeader(headers['x-api-key'])) : null;
    return requestPriority({
      header,
      keyPriority: key === null ? undefined : byKey.get(key),
      defaultPriority,
    });
  };
}

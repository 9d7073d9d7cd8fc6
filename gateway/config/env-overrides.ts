// The seed's environment variables, which win over the file (docs/configuration.md). A bad value is reported
// at `env.NAME`, checked by the same field schema as the key it sets.

import type { z } from 'zod';
import { collectIssues } from './collect-issues.js';
import type { PathIssue } from './env-substitution.js';
import {
  atLeastOne,
  atLeastOneInt,
  containerPrefix,
  nonNegativeNumber,
  nonNegativeTimerSeconds,
  positiveInt,
  positiveTimerSeconds,
} from './schema.js';

export const ENV_OVERRIDES: ReadonlyArray<{ name: string; section: string; key: string; schema: z.ZodType }> = [
  { name: 'GATEWAY_MAX_QUEUE_SIZE', section: 'limits', key: 'maxQueuePerModel', schema: positiveInt },
  { name: 'GATEWAY_MAX_CONCURRENT', section: 'limits', key: 'maxConcurrentPerModel', schema: positiveInt },
  { name: 'GATEWAY_MAX_RETRIES', section: 'retry', key: 'maxAttempts', schema: atLeastOneInt },
  { name: 'GATEWAY_RETRY_DELAY', section: 'retry', key: 'initialDelaySeconds', schema: nonNegativeTimerSeconds },
  { name: 'GATEWAY_RETRY_BACKOFF', section: 'retry', key: 'backoff', schema: atLeastOne },
  { name: 'GATEWAY_REQUEST_TIMEOUT', section: 'timeouts', key: 'firstByteSeconds', schema: positiveTimerSeconds },
  { name: 'GATEWAY_CONNECT_TIMEOUT', section: 'timeouts', key: 'connectSeconds', schema: positiveTimerSeconds },
  { name: 'VLLM_INACTIVITY_TIMEOUT', section: 'defaults', key: 'ttlSeconds', schema: nonNegativeNumber },
  { name: 'VLLM_CONTAINER_PREFIX', section: 'docker', key: 'containerPrefix', schema: containerPrefix },
];

/**
 * Sets the overridden keys in `raw` (the parsed, substituted file; changed in place). An empty
 * variable counts as unset. A section that is not a mapping is left for the schema to report.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): PathIssue[] {
  const issues: PathIssue[] = [];
  for (const { name, section, key, schema } of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    const parsed = schema.safeParse(value.trim(), { reportInput: true });
    if (!parsed.success) {
      for (const issue of collectIssues(parsed.error.issues, schema)) {
        issues.push({ path: `env.${name}`, message: `"${value}" is not valid for ${section}.${key}: ${issue.message}` });
      }
      continue;
    }
    const target = raw[section] ?? (raw[section] = {});
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
      (target as Record<string, unknown>)[key] = parsed.data;
    }
  }
  return issues;
}

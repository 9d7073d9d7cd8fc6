// Marks what one `vitest run` starts, so the global teardown (leak-check.global.ts) can tell this
// run's leftovers from those of other test runs on the same machine.
//
// - Processes: the global setup puts a run id in VLLM_GW_TEST_RUN before the workers start; every
//   process a test starts inherits it (child_process copies process.env unless told otherwise) and
//   shows it in /proc/<pid>/environ. The setup file adds the test file and test name, so a leftover
//   says who started it.
// - Containers: the Docker tests name their containers with testContainerPrefix(), which carries
//   the run id.

export const RUN_ENV = 'VLLM_GW_TEST_RUN';
export const FILE_ENV = 'VLLM_GW_TEST_FILE';
export const TEST_ENV = 'VLLM_GW_TEST_NAME';

/** The id of this run ('adhoc' when a file runs outside the project's vitest config). */
export function runId(): string {
  return process.env[RUN_ENV] ?? 'adhoc';
}

/** The container prefix every Docker test of this run starts with: `vgwt-<run id>`. */
export function testContainerPrefix(): string {
  return `vgwt-${runId()}`;
}

/**
 * The marker variables, for a child started with an environment of its own (not process.env):
 * spread them in so the teardown still sees the child.
 */
export function markerEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [RUN_ENV, FILE_ENV, TEST_ENV]) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * process.env without the marker variables, for a process meant to outlive the run: the shared
 * Docker engine that the daemon-restart tests start again (start-dockerd.sh).
 */
export function envWithoutMarkers(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of [RUN_ENV, FILE_ENV, TEST_ENV]) delete env[k];
  return env;
}

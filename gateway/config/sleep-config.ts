// What a model's `sleep:` and `scheduling.sleepHostRamGiB` come to in numbers (docs/configuration.md). Pure.

import type { GatewayConfig, LocalModelConfig, ModelConfig } from './types.js';

const MiB_PER_GiB = 1024;

/** The flag vLLM needs for its sleep API (`vllm serve --enable-sleep-mode`), in any of its spellings. */
export const SLEEP_MODE_FLAG = '--enable-sleep-mode';
/** vLLM serves /sleep, /wake_up, /is_sleeping and /collective_rpc only in its development mode. */
export const DEV_MODE_ENV = { VLLM_SERVER_DEV_MODE: '1' } as const;

/**
 * The model's sleep level; 0 for remote models (never put to sleep). The one accessor of the level:
 * a config built in code rather than loaded (tests, embedders) may leave `sleep` out, meaning off.
 */
export function sleepLevel(model: ModelConfig): 0 | 1 | 2 {
  return model.runtime === 'remote' ? 0 : (model.sleep?.level ?? 0);
}

/** Host RAM the model holds while asleep: its weights at level 1, nothing at level 2 (or 0). */
export function sleepHostRamMiB(model: LocalModelConfig): number {
  if (sleepLevel(model) !== 1) return 0;
  const gib = model.sleep.hostRamGiB === 'auto' ? model.vramGiB : model.sleep.hostRamGiB;
  return Math.round(gib * MiB_PER_GiB);
}

/** GPU memory a sleeper holds by configuration, on each of its GPUs (nvidia-smi's reading wins where there is one). */
export function sleepResidualMiB(model: LocalModelConfig): number {
  return Math.round(Math.min(model.sleep?.residualGiB ?? 1, model.vramGiB) * MiB_PER_GiB);
}

/** Host RAM every level-1 sleeper may hold together: the configured GiB, or half of the host's RAM. */
export function sleepHostRamBudgetMiB(config: Pick<GatewayConfig, 'scheduling'>, hostTotalMiB: number): number {
  const v = config.scheduling?.sleepHostRamGiB ?? 'auto'; // absent in configs built in code
  return v === 'auto' ? Math.floor(hostTotalMiB / 2) : Math.round(v * MiB_PER_GiB);
}

/** True when a command line turns vLLM's sleep mode on (`--enable-sleep-mode`, `=true`, vLLM's `_` spelling). */
export function hasSleepModeFlag(argv: readonly string[]): boolean {
  return argv.some((a) => {
    const [name, value] = a.split(/=(.*)/s, 2);
    if (name.replace(/_/g, '-') !== SLEEP_MODE_FLAG) return false;
    return value === undefined || /^(1|true|yes|on)$/i.test(value);
  });
}

/** A docker model's args with vLLM's sleep flag appended when its level asks for it (docs/configuration.md). */
export function effectiveArgs(model: LocalModelConfig): readonly string[] {
  return sleepLevel(model) > 0 && !hasSleepModeFlag(model.args) ? [...model.args, SLEEP_MODE_FLAG] : model.args;
}

/** The model's env plus vLLM's dev mode when it sleeps (the gateway's value wins over the model's). */
export function effectiveEnv(model: LocalModelConfig): Readonly<Record<string, string>> {
  return sleepLevel(model) > 0 ? { ...model.env, ...DEV_MODE_ENV } : model.env;
}

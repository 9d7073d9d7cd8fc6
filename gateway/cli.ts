// The headless CLI (README.md): `serve` and `check-config`.

import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import pino from 'pino';
import { loadConfigFile } from './config/load-config.js';
import { runCheckConfig } from './config/check-config.js';
import { isLoopbackHost } from './config/cross-checks.js';
import type { GatewayConfig } from './config/types.js';
import { cliLogDestination } from './cli-log-destination.js';
import { createGateway } from './index.js';
import { pinoIsoTime } from './iso-time.js';
import { OllamaPortInUseError } from './ollama/ollama-listener.js';
import { appConfigDir, CONFIG_FILE_NAME, ensureDefaultConfig } from './config/default-config.js';

const USAGE = `Usage:
  vllm-gateway serve [--config FILE] [--port N] [--host H]
  vllm-gateway check-config --config FILE

serve         run the gateway headless (OpenAI API, dashboard at /ui); without --config it uses
              the desktop app's config file (${CONFIG_FILE_NAME} in its config folder), written
              with the documented defaults if absent
check-config  validate a config file and print every error`;

/** `serve`'s config when --config is not given: the desktop app's file, created if absent. */
async function defaultConfigFile(): Promise<string> {
  const { path: file, created } = await ensureDefaultConfig(appConfigDir());
  process.stderr.write(
    created ? `config: ${file} (written with the defaults; add models there)\n` : `config: ${file} (no --config given)\n`,
  );
  return file;
}

/** Where the built dashboard lives, relative to this file (dist/gateway/cli.js → dist/renderer). */
export function dashboardDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'renderer');
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return 1;
}

async function serve(file: string, port: string | undefined, host: string | undefined): Promise<number> {
  const { config, issues } = await loadConfigFile(file);
  if (!config) {
    for (const i of issues) process.stderr.write(`${i.file}: ${i.path ? `${i.path}: ` : ''}${i.message}\n`);
    return 1;
  }
  let effective: GatewayConfig = config;
  if (port !== undefined || host !== undefined) {
    // Only decimal digits: Number() would take "" as 0 (a random port), "0x4E27" and "1e4".
    const p = port === undefined ? config.listen.port : /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!Number.isInteger(p) || p < 0 || p > 65535) return fail(`--port must be a decimal integer from 0 to 65535, got "${port}"`);
    // Node takes "" as every interface; a blank is no host at all.
    if (host !== undefined && !/^\S+$/.test(host)) return fail(`--host must be a host name or address (e.g. 127.0.0.1), got "${host}"`);
    effective = { ...config, listen: { ...config.listen, host: host ?? config.listen.host, port: p } };
  }
  if (!isLoopbackHost(effective.listen.host) && effective.auth.apiKeys.length === 0) {
    return fail(`Refusing to listen on ${effective.listen.host} without API keys: set auth.apiKeys, or listen on 127.0.0.1`);
  }

  const logger = pino({ base: undefined, timestamp: pinoIsoTime, level: process.env.LOG_LEVEL ?? 'info' }, cliLogDestination());
  const uiDir = dashboardDir();
  const gateway = await createGateway(effective, {
    logger,
    registerUi: existsSync(path.join(uiDir, 'index.html'))
      ? async (app) => {
          const { registerUi } = await import('./http/ui-route.js');
          await registerUi(app, { distDir: uiDir });
        }
      : undefined,
  });
  let url: string;
  try {
    url = await gateway.listen();
  } catch (err) {
    await gateway.close().catch(() => {});
    if (err instanceof OllamaPortInUseError) return fail(`Could not listen: ${err.message}`);
    return fail(`Could not listen on ${effective.listen.host}:${effective.listen.port}: ${(err as Error).message}`);
  }
  if (gateway.ollamaPort !== null) logger.info({ port: gateway.ollamaPort }, 'Ollama-compatible API also listening on listen.ollamaPort');
  // What was logged while starting (adoptions, preloads) comes out before the line supervisors wait for.
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  process.stdout.write(`listening on ${url}\n`);
  if (gateway.ollamaPort !== null) {
    const ollama = new URL(url);
    ollama.port = String(gateway.ollamaPort);
    process.stdout.write(`ollama: ${ollama.origin}\n`);
  }
  process.stdout.write(`dashboard: ${url}/ui#token=${gateway.adminToken}\n`);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: string) => {
      signals++;
      if (signals === 2) {
        // Cut the drain short, but still stop the models: they would hold their GPU memory otherwise.
        logger.warn({ signal }, 'second signal: ending the drain now, then stopping the models (a third exits at once)');
        void gateway.close({ cutDrain: true });
        return;
      }
      if (signals > 2) {
        logger.warn({ signal }, 'third signal: exiting now; models this gateway started may still be running');
        process.exit(1);
      }
      logger.info({ signal }, 'shutting down: draining requests');
      gateway.close().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (err: Error) => {
          logger.error({ err: err.message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 1;
  }
  let values: { config?: string; port?: string; host?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, port: { type: 'string', short: 'p' }, host: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  switch (command) {
    case 'serve': {
      let file = values.config;
      if (!file) {
        try {
          file = await defaultConfigFile();
        } catch (err) {
          return fail(`Could not create the default config: ${(err as Error).message}`);
        }
      }
      return serve(file, values.port, values.host);
    }
    case 'check-config':
      if (!values.config) return fail(`--config FILE is required\n\n${USAGE}`);
      return runCheckConfig(values.config, process.env, (line) => process.stdout.write(`${line}\n`));
    default:
      return fail(`Unknown command "${command}"\n\n${USAGE}`);
  }
}

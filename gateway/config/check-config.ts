// `gateway check-config --config FILE` (README.md): every issue on its own line, then a summary.

import { loadConfigFile } from './load-config.js';

/** Prints `FILE: KEY.PATH: reason` per issue and a summary; returns the exit code (1 if any issue). */
export async function runCheckConfig(file: string, env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const { config, issues } = await loadConfigFile(file, env);
  for (const issue of issues) out(`${issue.file}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`);
  if (!config || issues.length > 0) {
    out(`${file}: ${issues.length} ${issues.length === 1 ? 'error' : 'errors'}, config not valid`);
    return 1;
  }
  const ids = config.models.map((m) => m.id);
  const count = `${ids.length} ${ids.length === 1 ? 'model' : 'models'}`;
  out(`${file}: OK (${ids.length > 0 ? `${count}: ${ids.join(', ')}` : count})`);
  return 0;
}

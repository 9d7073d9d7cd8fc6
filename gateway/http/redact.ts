// Secrets out of what API clients see (docs/reliability.md "What error texts reveal"). A model's
// start failure and its log carry the server's command line and vLLM's "non-default args" line,
// where `--api-key`, `--hf-token` and the model's env can appear. Clients without the admin token
// get the text with those values replaced; the admin routes and the dashboard get it whole.

import pino, { type Logger } from 'pino';
import type { GatewayConfig } from '../config/types.js';

export const REDACTED = '[redacted]';

/** Names of flags, Python kwargs and env variables whose value is a secret: they END in the word
 * (`HF_TOKEN`, `--api-key`, `db_password`), so `max_tokens` or `--tokenizer` are not secrets. */
const SECRET_NAME = String.raw`[A-Za-z0-9_-]*(?:api[-_]?key|token|secret|passw(?:or)?d|credentials?)(?![A-Za-z0-9_-])`;
/** A value, unless it is already redacted. */
const VALUE = String.raw`(?!\[redacted\])("[^"]*"|'[^']*'|[^\s"',\]\)]+)`;

/** `--api-key sk-1`, `--hf-token=hf_x`: the value after a secret flag. */
const SECRET_FLAG = new RegExp(String.raw`(--${SECRET_NAME}(?:=|\s+))${VALUE}`, 'gi');
/** `HF_TOKEN=hf_x` in an env dump or a shell line. */
const SECRET_ASSIGN = new RegExp(String.raw`(\b${SECRET_NAME}=)${VALUE}`, 'gi');
/** vLLM's `non-default args: {'api_key': ['sk-1'], ...}` and argparse's `Namespace(api_key='sk-1')`. */
const SECRET_PY = new RegExp(String.raw`(['"]${SECRET_NAME}['"]\s*:\s*)(\[[^\]]*\]|'[^']*'|"[^"]*"|[^\s,}]+)`, 'gi');

const MIN_LITERAL = 4;

export class Redactor {
  /** Literal secret values from the config, longest first (so a value containing another goes whole). */
  private readonly literals: string[];

  constructor(config: Pick<GatewayConfig, 'auth' | 'models'>, adminToken: string) {
    const values = new Set<string>([...config.auth.apiKeys, adminToken]);
    const secretName = new RegExp(`^${SECRET_NAME}$`, 'i');
    for (const m of config.models) {
      if (m.runtime === 'remote') {
        if (m.apiKey) values.add(m.apiKey);
        continue;
      }
      for (const [name, value] of Object.entries(m.env ?? {})) if (secretName.test(name)) values.add(value);
      const words = m.runtime === 'process' ? [...m.command, ...m.args] : [...m.args];
      for (let i = 0; i < words.length; i++) {
        const w = words[i];
        const eq = w.indexOf('=');
        if (w.startsWith('--') && eq > 0 && secretName.test(w.slice(2, eq))) values.add(w.slice(eq + 1));
        else if (w.startsWith('--') && secretName.test(w.slice(2)) && i + 1 < words.length) values.add(words[i + 1]);
      }
    }
    this.literals = [...values].filter((v) => v.length >= MIN_LITERAL).sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text.replace(SECRET_FLAG, `$1${REDACTED}`).replace(SECRET_ASSIGN, `$1${REDACTED}`).replace(SECRET_PY, `$1'${REDACTED}'`);
    for (const v of this.literals) if (out.includes(v)) out = out.split(v).join(REDACTED);
    return out;
  }
}

/** Fields of the gateway's log lines that can carry a model server's output (a start failure's tail, an exit reason). */
const TEXT_FIELDS = ['err', 'cause', 'reason', 'error'] as const;

/**
 * The gateway's logger with secrets taken out of the fields that carry error texts: logs never hold
 * secrets, whoever reads them. Pino serializers run only for the keys a line has, so the request
 * lines (no such key) cost nothing more.
 */
export function redactingLogger(logger: Logger, redactor: Redactor): Logger {
  const text = (v: unknown): unknown => {
    if (typeof v === 'string') return redactor.redact(v);
    if (v instanceof Error) {
      const e = pino.stdSerializers.err(v);
      return { ...e, message: redactor.redact(e.message), stack: redactor.redact(e.stack) };
    }
    return v;
  };
  return logger.child({}, { serializers: Object.fromEntries(TEXT_FIELDS.map((k) => [k, text])) });
}

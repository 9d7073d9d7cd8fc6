// One persistent ssh connection to a host (docs/hosts.md "Transport"): everything the gateway does
// there (Docker API calls, a model's port, nvidia-smi) is a channel on it, so a host costs one
// login however busy it is. Reconnects with backoff when it drops; refuses a host whose key is
// not the one in known_hosts.
//
// Channels of a dropped connection emit `close` but stay writable, so whoever pools them (an
// http.Agent with keepAlive) would keep a dead one and hang on it: every channel handed out is
// destroyed on `close`. `openssh_forwardOutStreamLocal` throws `Not connected` on a closed
// connection instead of calling back with an error: every open is wrapped.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
// ssh2 is CommonJS: Node's ESM loader gives it as one default export.
import ssh2, { type Client as SshClient, type ClientChannel, type ConnectConfig } from 'ssh2';
import { knownKeyTypes, verifyHostKey, type KnownHostEntry } from './known-hosts.js';
import { DEFAULT_HOST_BACKOFF, reconnectDelayMs, type BackoffPolicy } from './reconnect-backoff.js';
import type { SshAuth } from './ssh-auth.js';
import { silentLogger, type GatewayLogger } from '../logger.js';

export type HostState = 'connecting' | 'connected' | 'unreachable';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SshConnectionOptions {
  /** The host's name in the config, for messages. */
  name: string;
  host: string;
  port: number;
  username: string;
  auth: SshAuth;
  /** Parsed known_hosts, and its path for messages. */
  knownHosts: { entries: readonly KnownHostEntry[]; path: string };
  backoff?: BackoffPolicy;
  random?: () => number;
  timers?: Timers;
  /** Handshake + login limit (default 10 s). */
  readyTimeoutMs?: number;
  /** ssh keepalive: a request every intervalMs; the connection is dropped after countMax unanswered ones. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  logger?: GatewayLogger;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** ssh2's server host key algorithms for a known_hosts key type (RSA keys sign with SHA-2 today). */
function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

export class HostUnreachableError extends Error {
  override name = 'HostUnreachableError';
}

export class SshConnection extends EventEmitter<{ state: [HostState, string | null] }> {
  private client: SshClient | null = null;
  private _state: HostState = 'connecting';
  private _error: string | null = null;
  private failures = 0;
  private retryTimer: unknown = null;
  private closed = false;
  private firstAttempt: Promise<void>;
  private settleFirst!: () => void;
  /** ssh2 clients made so far (tests: one per successful or failed login attempt). */
  clientsCreated = 0;
  /** Logins that succeeded. */
  logins = 0;
  private readonly timers: Timers;
  private readonly logger: GatewayLogger;

  constructor(private readonly opts: SshConnectionOptions) {
    super();
    this.timers = opts.timers ?? realTimers;
    this.logger = opts.logger ?? silentLogger;
    this.firstAttempt = new Promise((resolve) => (this.settleFirst = resolve));
  }

  get state(): HostState {
    return this._state;
  }

  /** Why the host is not connected (null when connected). */
  get error(): string | null {
    return this._error;
  }

  get target(): string {
    return `${this.opts.username}@${this.opts.host}${this.opts.port === 22 ? '' : `:${this.opts.port}`}`;
  }

  /** Begins connecting (and reconnecting for as long as the connection is open). */
  start(): void {
    if (this.closed || this.client || this.retryTimer) return;
    this.attempt();
  }

  /** Resolves once the first attempt has succeeded or failed. */
  settled(): Promise<void> {
    return this.firstAttempt;
  }

  private setState(state: HostState, error: string | null): void {
    if (state === this._state && error === this._error) return;
    this._state = state;
    this._error = error;
    this.emit('state', state, error);
  }

  private attempt(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const { host, port, username, auth, knownHosts } = this.opts;
    const client = new ssh2.Client();
    this.clientsCreated++;
    this.client = client;
    let refusedKey: string | null = null;
    let lastError: string | null = null;
    let ready = false;
    const types = knownKeyTypes(knownHosts.entries, host, port);
    const config: ConnectConfig = {
      host,
      port,
      username,
      agent: auth.agent,
      privateKey: auth.privateKey,
      readyTimeout: this.opts.readyTimeoutMs ?? 10_000,
      keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5000,
      keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
      hostVerifier: (key: Buffer) => {
        const verdict = verifyHostKey(knownHosts.entries, host, port, key, knownHosts.path);
        if (verdict.ok) return true;
        refusedKey = verdict.message;
        return false;
      },
    };
    // Ask for a key type known_hosts has, so a host with several keys presents the recorded one.
    if (types.length > 0) config.algorithms = { serverHostKey: types.flatMap(hostKeyAlgorithms) as never };
    client.on('ready', () => {
      // Small writes (an HTTP request, an SSE event) go out at once: with Nagle's algorithm each
      // waits for the previous segment's delayed ACK (~40 ms per request through the tunnel).
      client.setNoDelay(true);
      ready = true;
      this.failures = 0;
      this.logins++;
      this.logger.info({ host: this.opts.name, target: this.target }, 'host connected');
      this.setState('connected', null);
      this.settleFirst();
    });
    client.on('error', (err: Error & { level?: string }) => {
      const message = refusedKey ?? this.describe(err);
      // `close` follows; remember why.
      lastError = message;
    });
    let gone = false;
    const onClose = () => {
      if (gone) return;
      gone = true;
      if (this.client === client) this.client = null;
      if (this.closed) return;
      const why = lastError ?? (ready ? 'the ssh connection closed' : 'the ssh connection closed before login');
      this.failures++;
      const delay = reconnectDelayMs(this.opts.backoff ?? DEFAULT_HOST_BACKOFF, this.failures, this.opts.random);
      this.logger.warn({ host: this.opts.name, target: this.target, err: why, retryInMs: delay }, 'host unreachable');
      this.setState('unreachable', why);
      this.settleFirst();
      // It stays `unreachable` (with its reason) while it is tried again: `connecting` is only
      // the first attempt, so a state shown to a user does not flicker with every retry.
      this.retryTimer = this.timers.setTimeout(() => this.attempt(), delay);
    };
    client.on('close', onClose);
    try {
      client.connect(config);
    } catch (err) {
      // Bad config values throw synchronously (ssh2 validates them): report like any failure.
      lastError = this.describe(err as Error);
      queueMicrotask(onClose);
    }
  }

  private describe(err: Error & { level?: string; code?: string }): string {
    const t = this.target;
    if (err.level === 'client-authentication') {
      return `ssh login to ${t} refused with ${this.opts.auth.describe} (${err.message})`;
    }
    if (err.level === 'client-timeout') return `ssh to ${t} timed out during login`;
    if (err.code === 'ECONNREFUSED') return `nothing accepts ssh connections on ${t} (connection refused)`;
    if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return `${this.opts.host} cannot be reached (${err.code})`;
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${this.opts.host} does not resolve (${err.code})`;
    if (err.code === 'ETIMEDOUT') return `ssh to ${t} timed out (ETIMEDOUT)`;
    if (err.code === 'ECONNRESET') return `the ssh connection to ${t} was reset`;
    return `ssh to ${t}: ${err.message}`;
  }

  private connected(): SshClient {
    if (this._state !== 'connected' || !this.client) {
      throw new HostUnreachableError(`host ${this.opts.name} is ${this._state}${this._error ? `: ${this._error}` : ''}`);
    }
    return this.client;
  }

  private channel<T extends Duplex>(open: (client: SshClient, cb: (err: Error | undefined, ch: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      let client: SshClient;
      try {
        client = this.connected();
        open(client, (err, ch) => {
          if (err) return reject(err);
          ch.once('close', () => ch.destroy());
          resolve(ch);
        });
      } catch (err) {
        reject(err);
      }
    });
  }

  /** A channel to a unix socket on the host (the Docker engine's). */
  openStreamLocal(socketPath: string): Promise<ClientChannel> {
    return this.channel((c, cb) => c.openssh_forwardOutStreamLocal(socketPath, cb));
  }

  /** A channel to 127.0.0.1:port on the host (a model's published port). */
  openTcp(port: number): Promise<ClientChannel> {
    return this.channel((c, cb) => c.forwardOut('127.0.0.1', 0, '127.0.0.1', port, cb));
  }

  /** Runs `command` on the host (a session channel: sshd allows MaxSessions, 10 by default, at once). */
  exec(command: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      let client: SshClient;
      try {
        client = this.connected();
      } catch (err) {
        return reject(err);
      }
      client.exec(command, (err, ch) => {
        if (err) return reject(err);
        // Listeners go on in this callback: ssh2 may deliver the exit status, EOF and close in the
        // same tick as the open confirmation, and an `exit` emitted before a listener is lost.
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        const timer = opts.timeoutMs
          ? this.timers.setTimeout(() => {
              ch.destroy();
              reject(Object.assign(new Error(`\`${command}\` timed out after ${opts.timeoutMs} ms`), { killed: true }));
            }, opts.timeoutMs)
          : null;
        ch.on('data', (d: Buffer) => stdout.push(d));
        ch.stderr.on('data', (d: Buffer) => stderr.push(d));
        ch.on('exit', (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        ch.once('close', () => {
          if (timer) this.timers.clearTimeout(timer);
          ch.destroy();
          resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
        });
      });
    });
  }

  /** Ends the connection and stops reconnecting. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.client?.end();
    this.client = null;
    this.settleFirst();
  }
}

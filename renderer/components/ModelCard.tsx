// One model: state, progress, load figures, VRAM, idleness, start failure, and its actions.
import type { ReactElement } from 'react';
import type { ModelStatus } from '../../gateway/status-types.js';
import { useModelColor } from '../lib/colors.js';
import { isSaturated, tokensPerSecond } from '../lib/engine.js';
import { ago, clock, duration, elapsedSince, gib, idleStop } from '../lib/format.js';
import { AlertIcon, LogsIcon, MoonIcon, PinIcon, PlayIcon, StopIcon } from './icons.js';
import { Sparkline } from './Sparkline.js';

/** The by-hand action running on a card (the buttons say Warm for load, Evict for unload). */
export type PendingAction = 'load' | 'unload' | 'sleep' | null;

export interface ModelCardProps {
  model: ModelStatus;
  now: number;
  canControl: boolean;
  pending: PendingAction;
  actionError: string | null;
  onLoad(id: string): void;
  onUnload(id: string): void;
  onSleep(id: string): void;
  onLogs(id: string): void;
  onDismissError(id: string): void;
  /** Generation tokens/s over the last minutes (GET /gateway/history), oldest first. */
  tokensHistory?: ReadonlyArray<number | null>;
}

const BUSY_STATES = new Set<ModelStatus['state']>(['pulling', 'starting', 'waking', 'stopping']);

/** One action button of a card: its icon, or a spinner and the -ing word while the action runs. */
function ActionButton(props: {
  label: string;
  word: string;
  runningWord: string;
  icon: ReactElement;
  running: boolean;
  disabled: boolean;
  title: string | undefined;
  primary?: boolean;
  onClick(): void;
}): ReactElement {
  return (
    <button
      type="button"
      className={props.primary ? 'btn primary' : 'btn'}
      aria-label={props.label}
      disabled={props.disabled}
      title={props.title}
      onClick={props.onClick}
    >
      {props.running ? <span className="spinner" aria-hidden /> : props.icon}
      <span>{props.running ? props.runningWord : props.word}</span>
    </button>
  );
}

function Ratio({
  label,
  value,
  max,
  tone,
  detail,
  detailTitle,
}: {
  label: string;
  value: number;
  max: number;
  tone: 'accent' | 'warn';
  detail?: string;
  detailTitle?: string;
}): ReactElement {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  return (
    <div className="stat" title={detailTitle}>
      <div className="stat-label">{label}</div>
      <div className="stat-value num">
        <span className={value > 0 ? 'strong' : undefined}>{value}</span>
        <span className="muted"> / {max}</span>
      </div>
      <div className={`mini-bar tone-${tone}`} aria-hidden>
        <div style={{ width: `${pct}%` }} />
      </div>
      {detail ? <div className="stat-detail muted num">{detail}</div> : null}
    </div>
  );
}

/** The queue by class (priority lanes), while anything waits: interactive requests are admitted first. */
function queueDetail(m: ModelStatus): string | undefined {
  const q = m.queuedByPriority;
  if (!q || m.queued === 0) return undefined;
  return `${q.interactive} interactive · ${q.batch} batch`;
}

/** A start, pull or wake under way: what happens, the server's last word, a bar (moving while the percentage is unknown). */
function ProgressRow(props: { label: string; message: string | null | undefined; percent: number | null; barLabel: string }): ReactElement {
  const { percent: pct } = props;
  return (
    <div className="progress-row">
      <div className="progress-text">
        <span className="num">{props.label}</span>
        {props.message ? (
          <span className="muted progress-msg" title={props.message}>
            {props.message}
          </span>
        ) : null}
      </div>
      <div
        className={`progress-bar ${pct === null ? 'indeterminate' : ''}`}
        role="progressbar"
        aria-label={props.barLabel}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct === null ? undefined : Math.round(pct)}
      >
        <div style={pct === null ? undefined : { width: `${Math.max(2, Math.min(100, pct))}%` }} />
      </div>
    </div>
  );
}

function Progress({ model, now }: { model: ModelStatus; now: number }): ReactElement {
  const p = model.progress;
  const elapsed = elapsedSince(model.stateSince, now);
  const wait = model.waitingForMemory ?? null;
  if (model.state === 'starting' && wait) {
    const waited = elapsedSince(wait.since, now);
    const held = wait.blockedBy.length > 0 ? `held by ${wait.blockedBy.join(', ')}` : wait.reason;
    return (
      <div className="progress-row">
        <div className="progress-text">
          <span className="num">Waiting for GPU memory{waited !== null ? ` · ${clock(waited)}` : ''}</span>
          <span className="muted progress-msg" title={wait.reason}>
            {held}
          </span>
        </div>
        <div className="progress-bar indeterminate tone-muted" role="progressbar" aria-label={`${model.id} waits for GPU memory`}>
          <div />
        </div>
      </div>
    );
  }
  if (model.state === 'pulling' || model.state === 'starting') {
    const pct = p?.percent ?? null;
    const label =
      model.state === 'pulling' || p?.phase === 'pulling'
        ? `Pulling image${pct !== null ? ` · ${Math.round(pct)}%` : ''}`
        : `Loading${elapsed !== null ? ` · ${clock(elapsed)}` : ''}${pct !== null ? ` · ${Math.round(pct)}%` : ''}`;
    const barLabel = `${model.id} ${model.state === 'pulling' ? 'pull' : 'start'} progress`;
    return <ProgressRow label={label} message={p?.message} percent={pct} barLabel={barLabel} />;
  }
  if (model.state === 'waking') {
    const label = `Waking from sleep${elapsed !== null ? ` · ${clock(elapsed)}` : ''}`;
    return <ProgressRow label={label} message={p?.message} percent={p?.percent ?? null} barLabel={`${model.id} wake progress`} />;
  }
  if (model.state === 'stopping') {
    return (
      <div className="progress-row">
        <div className="progress-text">
          <span className="num">Stopping{elapsed !== null ? ` · ${clock(elapsed)}` : ''}</span>
        </div>
        <div className="progress-bar indeterminate tone-muted" aria-hidden>
          <div />
        </div>
      </div>
    );
  }
  // Same height in every state, so cards do not jump when a model starts or stops.
  let line: ReactElement;
  if (model.state === 'ready' && model.yielding) {
    line = (
      <>
        <span>Yielding to {model.yieldingTo ?? 'a waiting model'}</span>
        <span className="muted progress-msg">
          {model.inFlight > 0 ? `finishing ${model.inFlight} in flight, then stopping` : 'stopping'}
          {model.queued > 0 ? `; ${model.queued} queued for its turn back` : ''}
        </span>
      </>
    );
  } else if (model.state === 'ready') {
    line = (
      <>
        <span>{model.runtime === 'remote' ? 'Routed to' : `Up ${elapsed !== null ? duration(elapsed) : ''}`}</span>
        {model.endpoint ? <span className="mono muted progress-msg">{model.endpoint}</span> : null}
      </>
    );
  } else if (model.state === 'sleeping') {
    const ram = model.sleepHostRamMiB ? ` · ${gib(model.sleepHostRamMiB)} GiB in host RAM` : '';
    line = (
      <span className="progress-wrap">
        Asleep{model.sleepLevel ? ` (level ${model.sleepLevel})` : ''}
        {elapsed !== null ? ` ${duration(elapsed)}` : ''}
        {ram} · wakes on the next request
      </span>
    );
  } else if (model.state === 'failed') {
    line = <span>Failed {elapsed !== null ? `${duration(elapsed)} ago` : ''} · retried after a cool-down</span>;
  } else {
    line = (
      <span className="muted">
        Starts on the first request
        {model.vramBudgetMiB !== null ? ` · needs ${gib(model.vramBudgetMiB)} GiB` : ''}
      </span>
    );
  }
  return (
    <div className="progress-row">
      <div className="progress-text num">{line}</div>
    </div>
  );
}

/**
 * What the model's own server reports (its /metrics): tokens/s with a sparkline of the last
 * minutes, the KV cache's fill, and the requests the engine runs and holds back.
 */
function EngineFigures({ model: m, history }: { model: ModelStatus; history?: ReadonlyArray<number | null> }): ReactElement | null {
  const modelColor = useModelColor();
  const e = m.engine;
  if (!e) return null;
  const kv = e.kvCacheUsagePercent;
  const kvTone = kv === null ? '' : kv >= 90 ? 'tone-bad' : kv >= 70 ? 'tone-warn' : 'tone-accent';
  const rate = tokensPerSecond(e.generationTokensPerSecond);
  return (
    <div className="engine" aria-label={`${m.id} engine`}>
      <div className="stat engine-rate">
        <div className="stat-label">Tokens/s</div>
        <div className="stat-value num" aria-label={`${m.id} generation: ${rate} tokens per second`}>
          <span className="strong">{rate}</span>
          {e.promptTokensPerSecond ? <span className="muted small"> · prompt {tokensPerSecond(e.promptTokensPerSecond)}</span> : null}
        </div>
        {history && history.length > 1 ? (
          <Sparkline values={history} color={modelColor(m.id)} label={`${m.id} tokens per second over the last minutes`} />
        ) : null}
      </div>
      <div className="stat">
        <div className="stat-label">KV cache</div>
        <div className="stat-value num">{kv === null ? <span className="muted">—</span> : `${kv.toFixed(kv < 10 ? 1 : 0)}%`}</div>
        {kv !== null ? (
          <div
            className={`mini-bar ${kvTone}`}
            role="meter"
            aria-label={`${m.id} KV cache: ${kv}% used`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={kv}
          >
            <div style={{ width: `${Math.min(100, kv)}%` }} />
          </div>
        ) : null}
      </div>
      <div className="stat">
        <div className="stat-label">Engine</div>
        <div className="stat-value num">
          <span className={e.running ? 'strong' : undefined}>{e.running ?? '—'}</span>
          <span className="muted"> running</span>
        </div>
        {e.waiting ? <div className="tone-warn-text small num">{e.waiting} waiting</div> : null}
        {e.sleepState && e.sleepState !== 'awake' ? <div className="muted small">{e.sleepState.replace('_', ' ')}</div> : null}
      </div>
    </div>
  );
}

/** Keeps a scrolled box at its end: the last lines of a server's output say why it failed. */
function scrollToEnd(el: HTMLElement | null): void {
  if (el) el.scrollTop = el.scrollHeight;
}

/**
 * A start failure: the gateway's summary on its own line, then the server's last lines, scrolled
 * to the end (where CUDA, import and argument errors are) and scrollable back up.
 */
function FailureMessage({ message }: { message: string }): ReactElement {
  const nl = message.indexOf('\n');
  const summary = nl < 0 ? message : message.slice(0, nl);
  const output = nl < 0 ? '' : message.slice(nl + 1).replace(/\s+$/, '');
  return (
    <>
      <div className="failure-summary">{summary}</div>
      {output ? (
        <pre className="failure-msg" ref={scrollToEnd} tabIndex={0} aria-label="Last lines of the server's output">
          {output}
        </pre>
      ) : null}
    </>
  );
}

export function ModelCard(props: ModelCardProps): ReactElement {
  const { model: m, now, canControl, pending } = props;
  const modelColor = useModelColor();
  const remote = m.runtime === 'remote';
  const idle = idleStop(m, now);
  const lastUse = m.inFlight > 0 ? 'now' : ago(m.lastUsedAt, now);
  const vramPct = m.vramBudgetMiB && m.vramUsedMiB ? Math.min(100, (m.vramUsedMiB / m.vramBudgetMiB) * 100) : 0;
  const loadDisabled = !canControl || pending !== null || remote || m.state === 'ready' || BUSY_STATES.has(m.state);
  const canSleep = !remote && m.sleepLevel > 0;
  const sleepDisabled = !canControl || pending !== null || m.state !== 'ready' || m.inFlight + m.queued > 0;
  const unloadDisabled = !canControl || pending !== null || remote || m.state === 'stopped' || m.state === 'stopping';
  const readOnlyHint = canControl ? undefined : 'Read-only: open the dashboard link printed by `serve` to control models';
  const vram =
    m.vramBudgetMiB === null && m.vramUsedMiB === null ? (
      <span className="muted">—</span>
    ) : (
      <>
        <span className={m.vramUsedMiB ? 'strong' : undefined}>{m.vramUsedMiB !== null ? gib(m.vramUsedMiB) : '0.0'}</span>
        <span className="muted"> / {gib(m.vramBudgetMiB)} GiB</span>
      </>
    );

  return (
    <article role="group" aria-label={m.id} className={`card model state-${m.state}`} data-state={m.state}>
      <header className="model-head">
        <div className="model-title">
          <span className="model-name">
            <span className="swatch lg" style={{ ['--c' as string]: modelColor(m.id) }} aria-hidden />
            <h3 className="model-id" title={m.id}>
              {m.id}
            </h3>
          </span>
          <span className="badge subtle">{m.runtime}</span>
          {m.pinned ? (
            <span className="badge subtle" title="Never evicted or stopped for idleness">
              <PinIcon width={12} height={12} /> pinned
            </span>
          ) : null}
        </div>
        {m.yielding ? (
          <span className="badge warn-soft" title="Takes no new requests: finishes those in flight, then makes room for a waiting model">
            yielding to {m.yieldingTo ?? '…'}
          </span>
        ) : null}
        <span className={`state-pill state-${m.state}`}>
          <span className="state-dot" aria-hidden />
          {m.state}
        </span>
      </header>
      <div className="model-sub muted">{m.aliases.length > 0 ? <span title="Aliases">aka {m.aliases.join(', ')}</span> : null}</div>

      <Progress model={m} now={now} />

      <div className="stats">
        <Ratio label="In flight" value={m.inFlight} max={m.maxConcurrent} tone="accent" />
        <Ratio
          label="Queued"
          value={m.queued}
          max={m.maxQueue}
          tone="warn"
          detail={queueDetail(m)}
          detailTitle={m.queuedByPriority ? 'Interactive requests are admitted before batch ones' : undefined}
        />
        <div className="stat">
          <div className="stat-label">VRAM</div>
          <div className="stat-value num">{vram}</div>
          <div className="mini-bar" aria-hidden>
            <div style={{ width: `${vramPct}%`, background: modelColor(m.id) }} />
          </div>
        </div>
        <div className="stat">
          <div className="stat-label">Last use</div>
          <div className="stat-value num">{lastUse}</div>
        </div>
        <div className="stat">
          <div className="stat-label">Idle stop</div>
          <div className="stat-value num" title={idle.title}>
            {idle.text}
          </div>
        </div>
        <div className="stat">
          <div className="stat-label">{typeof m.host === 'string' ? 'Host · GPU' : 'GPU'}</div>
          <div className="stat-value num" title={typeof m.host === 'string' ? `GPU ${m.gpus.join(', ')} on host ${m.host}` : undefined}>
            {typeof m.host === 'string' ? <span className="strong">{m.host} · </span> : null}
            {m.gpus.length > 0 ? m.gpus.join(', ') : <span className="muted">{remote ? 'remote' : 'auto'}</span>}
          </div>
        </div>
      </div>

      <EngineFigures model={m} history={props.tokensHistory} />

      {isSaturated(m.engine) ? (
        <div className="saturated" role="status">
          <AlertIcon width={14} height={14} />
          <span>
            <strong>Saturated:</strong> the engine holds {m.engine!.waiting} {m.engine!.waiting === 1 ? 'request' : 'requests'} back with
            its KV cache {Math.round(m.engine!.kvCacheUsagePercent!)}% full. A higher <code>maxConcurrent</code> will not help; a shorter
            context, more GPU memory for this model or a second replica would.
          </span>
        </div>
      ) : null}

      {m.state === 'failed' && m.error ? (
        <div className="failure" role="alert">
          <div className="failure-head">
            <AlertIcon width={14} height={14} /> Start failed
          </div>
          <FailureMessage message={m.error} />
        </div>
      ) : null}

      {props.actionError ? (
        <div className="action-error" role="alert">
          <AlertIcon width={14} height={14} />
          <span>{props.actionError}</span>
          <button type="button" className="link" onClick={() => props.onDismissError(m.id)} aria-label={`Dismiss error for ${m.id}`}>
            Dismiss
          </button>
        </div>
      ) : null}

      <footer className="model-actions">
        <ActionButton
          primary
          label={`Warm ${m.id}`}
          word="Warm"
          runningWord="Warming"
          icon={<PlayIcon width={13} height={13} />}
          running={pending === 'load'}
          disabled={loadDisabled}
          title={readOnlyHint ?? (remote ? 'Remote models are not started by the gateway' : undefined)}
          onClick={() => props.onLoad(m.id)}
        />
        <ActionButton
          label={`Evict ${m.id}`}
          word="Evict"
          runningWord="Evicting"
          icon={<StopIcon width={13} height={13} />}
          running={pending === 'unload'}
          disabled={unloadDisabled}
          title={readOnlyHint ?? (remote ? 'Remote models are not stopped by the gateway' : undefined)}
          onClick={() => props.onUnload(m.id)}
        />
        {canSleep ? (
          <ActionButton
            label={`Sleep ${m.id}`}
            word="Sleep"
            runningWord="Sleeping"
            icon={<MoonIcon width={13} height={13} />}
            running={pending === 'sleep'}
            disabled={sleepDisabled}
            title={
              readOnlyHint ??
              (m.state !== 'ready'
                ? 'Only a ready model can be put to sleep'
                : m.inFlight + m.queued > 0
                  ? 'Busy: it sleeps once nothing is in flight or queued'
                  : `Free its GPU memory and keep the server (sleep level ${m.sleepLevel}); the next request wakes it`)
            }
            onClick={() => props.onSleep(m.id)}
          />
        ) : null}
        <span className="spacer" />
        <button type="button" className="btn ghost" aria-label={`Logs of ${m.id}`} onClick={() => props.onLogs(m.id)}>
          <LogsIcon width={14} height={14} />
          <span>Logs</span>
        </button>
      </footer>
    </article>
  );
}

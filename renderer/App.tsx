// The dashboard: GPUs with their VRAM bars, models with their state and actions, recent requests.
import { useCallback, useMemo, useState, type ReactElement } from 'react';
import { unloadAskingFirst } from '../common/unload-asking-first.js';
import type { StatusDocument } from '../gateway/status-types.js';
import { errorMessage, type GatewayApi } from './api/gateway-api.js';
import { ConfirmUnload } from './components/ConfirmUnload.js';
import { GpuCard } from './components/GpuCard.js';
import { HostGpus } from './components/HostGpus.js';
import { Header } from './components/Header.js';
import { AlertIcon, LockIcon } from './components/icons.js';
import { LogsDrawer } from './components/LogsDrawer.js';
import { ModelCard, type PendingAction } from './components/ModelCard.js';
import { ActivityCharts } from './components/ActivityCharts.js';
import { ConfigFile } from './components/ConfigFile.js';
import { RecentRequests } from './components/RecentRequests.js';
import { useHistory } from './hooks/use-history.js';
import { useNow } from './hooks/use-now.js';
import { useStatus } from './hooks/use-status.js';
import { assignModelColors, colorFunction, ModelColors } from './lib/colors.js';
import { tokensPerSecond, totalTokensPerSecond } from './lib/engine.js';
import { gib } from './lib/format.js';

function Summary({ status }: { status: StatusDocument }): ReactElement {
  const ms = status.models;
  const ready = ms.filter((m) => m.state === 'ready').length;
  const loading = ms.filter((m) => m.state === 'starting' || m.state === 'pulling').length;
  const failed = ms.filter((m) => m.state === 'failed').length;
  const inFlight = ms.reduce((n, m) => n + m.inFlight, 0);
  const queued = ms.reduce((n, m) => n + m.queued, 0);
  const used = status.gpus.reduce((n, g) => n + g.usedMiB, 0);
  const tps = totalTokensPerSecond(ms);
  const total = status.gpus.reduce((n, g) => n + g.totalMiB, 0);
  const items: Array<{
    label: string;
    value: string;
    tone?: string;
    suffix?: string;
  }> = [
    { label: 'Models ready', value: `${ready} / ${ms.length}` },
    {
      label: 'Starting',
      value: String(loading),
      tone: loading > 0 ? 'warn' : undefined,
    },
    {
      label: 'In flight',
      value: String(inFlight),
      tone: inFlight > 0 ? 'accent' : undefined,
    },
    {
      label: 'Queued',
      value: String(queued),
      tone: queued > 0 ? 'warn' : undefined,
    },
    {
      label: 'Tokens/s',
      value: tokensPerSecond(tps),
      tone: tps ? 'accent' : undefined,
    },
    {
      label: 'VRAM used',
      value: status.gpus.length > 0 ? gib(used) : '—',
      suffix: status.gpus.length > 0 ? ` / ${gib(total)} GiB` : undefined,
    },
  ];
  if (failed > 0) items.push({ label: 'Failed', value: String(failed), tone: 'bad' });
  return (
    <dl className="summary">
      {items.map((it) => (
        <div key={it.label} className={`summary-item ${it.tone ? `tone-${it.tone}` : ''}`}>
          <dt>{it.label}</dt>
          <dd className="num">
            {it.value}
            {it.suffix ? <span className="dd-suffix">{it.suffix}</span> : null}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function ReadOnlyNotice(): ReactElement {
  return (
    <div className="notice" role="note" aria-label="Read-only mode">
      <LockIcon width={16} height={16} />
      <div>
        <strong>Read-only.</strong> To warm or evict models from this browser, open the link that <code>vllm-gateway serve</code> prints on
        the line starting with <code>dashboard:</code> — it carries the admin token (in the part after <code>#</code>, which never leaves
        your browser).
      </div>
    </div>
  );
}

/**
 * The gateway refused to show anything without a credential: auth.apiKeys is set, and this tab has
 * no admin token (or one the gateway no longer accepts). Only the `dashboard:` link helps.
 */
function NeedsLink({ hasToken }: { hasToken: boolean }): ReactElement {
  return (
    <div className="card empty-state needs-link" role="note" aria-labelledby="needs-link-title">
      <LockIcon width={20} height={20} />
      <h2 id="needs-link-title">{hasToken ? 'The gateway refused this tab’s admin token' : 'This gateway needs the dashboard link'}</h2>
      <p className="muted">
        {hasToken
          ? 'The token this tab holds is not the gateway’s admin token any more (it may have been regenerated). '
          : 'API keys are set for this gateway, so even its status needs a credential. '}
        Open the link that <code>vllm-gateway serve</code> prints on the line starting with <code>dashboard:</code> — it carries the admin
        token (in the part after <code>#</code>, which never leaves your browser).
      </p>
    </div>
  );
}

/** The open confirmation before a forced unload; `answer` resolves unloadAskingFirst's confirm. */
interface Confirm {
  id: string;
  inFlight: number;
  queued: number;
  answer(force: boolean): void;
}

export function App({ api }: { api: GatewayApi }): ReactElement {
  const { status, connection, error, needsToken } = useStatus(api);
  const history = useHistory(api, status !== null);
  const tokensHistory = useMemo(() => new Map((history?.models ?? []).map((m) => [m.id, m.generationTokensPerSecond] as const)), [history]);
  const now = useNow(1000);
  const [pending, setPending] = useState<Record<string, PendingAction>>({});
  const [actionErrors, setActionErrors] = useState<Record<string, string | null>>({});
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [logsFor, setLogsFor] = useState<string | null>(null);

  const setPend = (id: string, p: PendingAction) => setPending((s) => ({ ...s, [id]: p }));
  const setErr = (id: string, e: string | null) => setActionErrors((s) => ({ ...s, [id]: e }));

  const modelIds = (status?.models ?? []).map((m) => m.id).join('\n');
  const colorOf = useMemo(() => colorFunction(assignModelColors(modelIds ? modelIds.split('\n') : [])), [modelIds]);
  const modelById = useMemo(() => new Map((status?.models ?? []).map((m) => [m.id, m] as const)), [status]);

  /** Shows the action's spinner on the card while `call` runs. */
  const whilePending = useCallback(async (id: string, action: PendingAction, call: () => Promise<unknown>) => {
    setPend(id, action);
    try {
      await call();
    } finally {
      setPend(id, null);
    }
  }, []);

  /** Runs a card action; a failure shows on the card as "<failure>: <message>". */
  const attempt = useCallback(async (id: string, failure: string, run: () => Promise<unknown>) => {
    setErr(id, null);
    try {
      await run();
    } catch (err) {
      setErr(id, `${failure}: ${errorMessage(err)}`);
    }
  }, []);

  const load = useCallback(
    (id: string) => attempt(id, `Could not warm ${id}`, () => whilePending(id, 'load', () => api.load(id))),
    [api, attempt, whilePending],
  );

  const putToSleep = useCallback(
    (id: string) => attempt(id, `Could not put ${id} to sleep`, () => whilePending(id, 'sleep', () => api.sleep(id))),
    [api, attempt, whilePending],
  );

  /** Opens the confirmation; its buttons (or Escape) settle the promise. */
  const askToForce = useCallback(
    (id: string) =>
      new Promise<boolean>((answer) => {
        const m = modelById.get(id);
        setConfirm({ id, inFlight: m?.inFlight ?? 0, queued: m?.queued ?? 0, answer });
      }),
    [modelById],
  );

  const unload = useCallback(
    (id: string) => {
      const m = modelById.get(id);
      return attempt(id, `Could not evict ${id}`, () =>
        unloadAskingFirst(
          id,
          { unload: (target, opts) => whilePending(target, 'unload', () => api.unload(target, opts)), confirm: askToForce },
          { knownBusy: m !== undefined && m.inFlight + m.queued > 0 },
        ),
      );
    },
    [api, askToForce, attempt, modelById, whilePending],
  );

  const answerConfirm = (force: boolean) => {
    confirm?.answer(force);
    setConfirm(null);
  };

  return (
    <ModelColors.Provider value={colorOf}>
      <div className="app">
        <Header api={api} listen={status?.listen ?? null} version={status?.version ?? null} connection={connection} />
        <main className="content" aria-busy={status === null}>
          {!api.canControl && !(status === null && needsToken) ? <ReadOnlyNotice /> : null}

          {status === null ? (
            needsToken ? (
              <NeedsLink hasToken={api.canControl} />
            ) : error ? (
              <div className="card empty-state" role="alert">
                <AlertIcon width={20} height={20} />
                <h2>The gateway is not answering</h2>
                <p className="muted">{error}</p>
                <p className="muted small">Retrying every few seconds…</p>
              </div>
            ) : (
              <div className="skeleton" aria-label="Loading status">
                <div className="sk sk-summary" />
                <div className="sk sk-gpu" />
                <div className="sk-grid">
                  <div className="sk sk-model" />
                  <div className="sk sk-model" />
                </div>
              </div>
            )
          ) : (
            <>
              <Summary status={status} />

              <section aria-labelledby="gpus-title" className="section">
                <header className="section-head">
                  <h2 id="gpus-title">GPUs</h2>
                  {status.gpuProbe && !status.gpuProbe.available ? (
                    <span className="muted small">{status.gpuProbe.error ?? 'GPU probe unavailable'}</span>
                  ) : null}
                </header>
                {status.hosts ? (
                  <HostGpus status={status} />
                ) : status.gpus.length === 0 ? (
                  <div className="card empty muted">
                    No GPU reported. Configure <code>gpu.static</code> in <ConfigFile path={status.configPath} /> or install nvidia-smi.
                  </div>
                ) : (
                  <div className="gpu-grid">
                    {status.gpus.map((g) => (
                      <GpuCard key={g.index} gpu={g} models={status.models} configPath={status.configPath ?? null} />
                    ))}
                  </div>
                )}
              </section>

              <section aria-labelledby="models-title" className="section">
                <header className="section-head">
                  <h2 id="models-title">Models</h2>
                  <span className="muted small num">{status.models.length} configured</span>
                </header>
                {status.models.length === 0 ? (
                  <div className="card empty muted">
                    No models configured. Add one under <code>models:</code> in <ConfigFile path={status.configPath} />, then restart the
                    gateway.
                  </div>
                ) : (
                  <div className="model-grid">
                    {status.models.map((m) => (
                      <ModelCard
                        key={m.id}
                        model={m}
                        now={now}
                        canControl={api.canControl}
                        pending={pending[m.id] ?? null}
                        actionError={actionErrors[m.id] ?? null}
                        onLoad={(id) => void load(id)}
                        onUnload={(id) => void unload(id)}
                        onSleep={(id) => void putToSleep(id)}
                        onLogs={setLogsFor}
                        onDismissError={(id) => setErr(id, null)}
                        tokensHistory={tokensHistory.get(m.id)}
                      />
                    ))}
                  </div>
                )}
              </section>

              {history ? (
                <section aria-labelledby="activity-title" className="section">
                  <header className="section-head">
                    <h2 id="activity-title">Activity</h2>
                    <span className="muted small">last {Math.round(history.windowSeconds / 60)} minutes</span>
                  </header>
                  <ActivityCharts history={history} models={status.models} />
                </section>
              ) : null}

              {status.recentRequests ? (
                <section className="section">
                  <RecentRequests requests={status.recentRequests} inFlight={status.models.reduce((n, m) => n + m.inFlight, 0)} />
                </section>
              ) : null}
            </>
          )}
        </main>

        {confirm ? (
          <ConfirmUnload
            id={confirm.id}
            inFlight={confirm.inFlight}
            queued={confirm.queued}
            onCancel={() => answerConfirm(false)}
            onConfirm={() => answerConfirm(true)}
          />
        ) : null}
        {logsFor ? <LogsDrawer api={api} id={logsFor} onClose={() => setLogsFor(null)} /> : null}
      </div>
    </ModelColors.Provider>
  );
}

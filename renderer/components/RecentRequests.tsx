// The last requests the gateway saw (status document extension `recentRequests`).
import type { ReactElement } from 'react';
import type { RecentRequest } from '../../gateway/status-types.js';
import { useModelColor } from '../lib/colors.js';
import { tokensPerSecond } from '../lib/engine.js';
import { ms, timeOfDay } from '../lib/format.js';

const MAX_ROWS = 50;

function statusTone(code: number): string {
  if (code === 0) return 'pending';
  if (code < 300) return 'ok';
  if (code < 500) return 'warn';
  return 'bad';
}

/** What a request still in progress is doing: waiting for its response, or receiving it. */
function progressLabel(r: RecentRequest): string {
  if (r.status === 0) return 'waiting';
  return r.stream ? 'streaming' : 'running';
}

/** The first byte as the client saw it; the model server's own in its title and below it. */
function FirstByte({ r }: { r: RecentRequest }): ReactElement {
  if (r.firstByteMs === null) return <span className="muted">—</span>;
  const upstream = r.upstreamFirstByteMs ?? null;
  const title =
    upstream === null
      ? 'Time to first byte as the client saw it (queueing and a cold start included)'
      : `${ms(r.firstByteMs)} as the client saw it (queueing and a cold start included); the model server answered in ${ms(upstream)}`;
  // The model server's figure is shown where it tells a different story (the wait was elsewhere).
  const differs = upstream !== null && r.firstByteMs - upstream >= Math.max(50, r.firstByteMs * 0.2);
  return (
    <span title={title} data-first-byte={r.firstByteMs} data-upstream-first-byte={upstream ?? undefined}>
      {ms(r.firstByteMs)}
      {differs ? <span className="first-byte-upstream muted">server {ms(upstream)}</span> : null}
    </span>
  );
}

/** `inFlight`: requests being answered now (listed as in progress). */
export function RecentRequests({ requests, inFlight = 0 }: { requests: readonly RecentRequest[]; inFlight?: number }): ReactElement {
  const rows = requests.slice(0, MAX_ROWS);
  const modelColor = useModelColor();
  return (
    <section className="card table-card" aria-labelledby="recent-title">
      <header className="section-head">
        <h2 id="recent-title">Recent requests</h2>
        <span className="muted small num">{rows.length > 0 ? `latest ${rows.length}` : ''}</span>
      </header>
      {rows.length === 0 ? (
        <p className="empty muted">
          {inFlight > 0
            ? `No request listed yet (${inFlight} in flight).`
            : 'No requests yet. Point a client at the gateway URL and they appear here.'}
        </p>
      ) : (
        <div className="table-wrap" tabIndex={0} aria-label="Recent requests table">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Model</th>
                <th scope="col">Path</th>
                <th scope="col" className="right">
                  Status
                </th>
                <th scope="col" className="right">
                  First byte
                </th>
                <th scope="col" className="right">
                  Duration
                </th>
                <th scope="col" className="right">
                  Tokens
                </th>
                <th scope="col" className="right">
                  Tok/s
                </th>
                <th scope="col">Request ID</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id + r.startedAt} className={r.durationMs === null ? 'in-progress' : undefined} data-request-id={r.id}>
                  <td className="num muted">{timeOfDay(r.startedAt)}</td>
                  <td>
                    <span className="cell-model">
                      <span className="swatch" style={{ ['--c' as string]: modelColor(r.model) }} aria-hidden />
                      {r.model}
                    </span>
                  </td>
                  <td className="mono">
                    {r.path}
                    {r.stream ? <span className="badge subtle tiny">stream</span> : null}
                  </td>
                  <td className="right">
                    <span className={`code code-${statusTone(r.status)} num`}>{r.status === 0 ? '…' : r.status}</span>
                  </td>
                  <td className="right num">
                    <FirstByte r={r} />
                  </td>
                  <td className="right num">
                    {r.durationMs === null ? <span className="in-progress-label">{progressLabel(r)}…</span> : ms(r.durationMs)}
                  </td>
                  <td
                    className="right num"
                    title={
                      r.completionTokens != null
                        ? `${r.promptTokens ?? '?'} prompt + ${r.completionTokens} generated tokens`
                        : 'No usage in the response'
                    }
                  >
                    {r.completionTokens != null ? r.completionTokens : <span className="muted">—</span>}
                  </td>
                  <td className="right num">
                    {r.tokensPerSecond != null ? tokensPerSecond(r.tokensPerSecond) : <span className="muted">—</span>}
                  </td>
                  <td className="mono muted ellipsis" title={r.id}>
                    {r.id}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

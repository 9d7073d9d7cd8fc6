// With remote hosts (docs/hosts.md): the GPU bars grouped by host, each group headed by the
// host's name, where its engine is, and its connection state (and why, when it is not connected).
import type { ReactElement } from 'react';
import type { StatusDocument } from '../../gateway/status-types.js';
import { GpuCard } from './GpuCard.js';

const STATE_TEXT = { connected: 'connected', connecting: 'connecting…', unreachable: 'unreachable' } as const;

export function HostGpus({ status }: { status: StatusDocument }): ReactElement {
  return (
    <div className="hosts">
      {(status.hosts ?? []).map((h) => {
        const gpus = status.gpus.filter((g) => (g.host ?? 'local') === h.name);
        return (
          <section key={h.name} className={`host host-${h.state}`} aria-labelledby={`host-${h.name}-title`}>
            <header className="host-head">
              <h3 id={`host-${h.name}-title`}>{h.name}</h3>
              <span className={`host-state ${h.state}`} data-state={h.state}>
                {STATE_TEXT[h.state]}
              </span>
              <span className="muted small">{h.docker}</span>
            </header>
            {h.error ? <p className="host-error small">{h.error}</p> : null}
            {gpus.length === 0 ? (
              <div className="card empty muted">
                {h.state === 'connected' ? 'No GPU reported on this host.' : 'No GPUs while the host is away.'}
              </div>
            ) : (
              <div className="gpu-grid">
                {gpus.map((g) => (
                  <GpuCard key={`${h.name}:${g.index}`} gpu={g} models={status.models} />
                ))}
              </div>
            )}
          </section>
        );
      })}
    </div>
  );
}

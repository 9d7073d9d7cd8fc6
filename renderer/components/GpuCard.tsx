// One GPU: a VRAM bar segmented by model (measured use filled, budget outlined), other
// processes, reserved and free memory, with a legend of GiB figures.
import type { ReactElement } from 'react';
import type { GpuStatus, ModelStatus } from '../../gateway/status-types.js';
import { useModelColor } from '../lib/colors.js';
import { ConfigFile } from './ConfigFile.js';
import { gib, gpuUsageText } from '../lib/format.js';
import { gpuSegments, percent, type Segment } from '../lib/gpu-segments.js';

function segmentTitle(s: Segment): string {
  switch (s.kind) {
    case 'model':
      if (s.sleeping)
        return `${s.id}: asleep, ${gib(s.usedMiB)} GiB left on the GPU${s.hostRamMiB ? `, ${gib(s.hostRamMiB)} GiB in host RAM` : ''}`;
      return `${s.id}: ${gib(s.usedMiB)} GiB used${s.budgetMiB !== null ? ` of a ${gib(s.budgetMiB)} GiB budget` : ''}`;
    case 'other':
      return `Other processes: ${gib(s.spanMiB)} GiB`;
    case 'reserved':
      return `Reserved: ${gib(s.spanMiB)} GiB`;
    case 'free':
      return `Free: ${gib(s.spanMiB)} GiB`;
  }
}

export function GpuCard({
  gpu,
  models,
  configPath = null,
}: {
  gpu: GpuStatus;
  models: readonly ModelStatus[];
  configPath?: string | null;
}): ReactElement {
  const segs = gpuSegments(gpu, models);
  const key = gpu.host ? `${gpu.host}-${gpu.index}` : String(gpu.index);
  const modelColor = useModelColor();
  const total = gpu.totalMiB;
  const usage = gpuUsageText(gpu.usedMiB, gpu.totalMiB);
  const usedGiB = Number((gpu.usedMiB / 1024).toFixed(1));
  const totalGiB = Number((gpu.totalMiB / 1024).toFixed(1));
  const usedPct = Math.round(percent(gpu.usedMiB, total));
  const extras: string[] = [];
  if (gpu.utilizationPercent !== undefined && gpu.utilizationPercent !== null) extras.push(`${Math.round(gpu.utilizationPercent)}% util`);
  if (gpu.temperatureC !== undefined && gpu.temperatureC !== null) extras.push(`${Math.round(gpu.temperatureC)}°C`);
  if (gpu.powerW !== undefined && gpu.powerW !== null) extras.push(`${Math.round(gpu.powerW)} W`);

  return (
    <section className="card gpu" aria-labelledby={`gpu-${key}-title`}>
      <header className="gpu-head">
        <div className="gpu-title">
          <span className="gpu-index">GPU {gpu.index}</span>
          <h3 id={`gpu-${key}-title`}>{gpu.name}</h3>
          {gpu.source === 'static' ? (
            <span className="badge warn-badge" title="Not a measured GPU: the figures are configured">
              simulated
            </span>
          ) : null}
        </div>
        <div className="gpu-figures num">
          <strong>{gib(gpu.usedMiB)}</strong>
          <span className="muted"> / {gib(gpu.totalMiB)} GiB</span>
          <span className="gpu-pct">{usedPct}%</span>
        </div>
      </header>

      {gpu.source === 'static' ? (
        <p className="gpu-simulated small" role="note">
          Simulated: not measured (nvidia-smi is not in use), so this is <code>gpu.static</code> from <ConfigFile path={configPath} />, and
          its use is the budgets (<code>vramGiB</code>) of the models running. Set <code>gpu.static</code> to your GPU&rsquo;s name and
          memory, or install the NVIDIA driver (with <code>gpu.probe: auto</code>) for measured figures.
        </p>
      ) : null}

      <div
        className="vram-bar"
        role="meter"
        aria-label={`${gpu.name}: ${usage}`}
        aria-valuemin={0}
        aria-valuemax={totalGiB}
        aria-valuenow={usedGiB}
        aria-valuetext={usage}
      >
        {segs.map((s) => {
          const width = `${percent(s.spanMiB, total)}%`;
          if (s.kind === 'model') {
            const fill = s.spanMiB > 0 ? `${percent(s.usedMiB, s.spanMiB)}%` : '0%';
            return (
              <div
                key={`m-${s.id}`}
                className={`seg seg-model${s.sleeping ? ' sleeping' : ''}`}
                style={{ width, ['--c' as string]: modelColor(s.id) }}
                title={segmentTitle(s)}
                data-model={s.id}
              >
                <div className="seg-fill" style={{ width: fill }} />
              </div>
            );
          }
          return <div key={s.kind} className={`seg seg-${s.kind}`} style={{ width }} title={segmentTitle(s)} />;
        })}
      </div>

      <ul className="legend" aria-label={`Memory on GPU ${gpu.index}${gpu.host ? ` of ${gpu.host}` : ''}`}>
        {segs.map((s) =>
          s.kind === 'model' ? (
            <li key={`m-${s.id}`}>
              <span className="swatch" style={{ ['--c' as string]: modelColor(s.id) }} />
              <span className="legend-name">{s.id}</span>
              <span className="num muted">
                {gib(s.usedMiB)}
                {s.budgetMiB !== null ? ` / ${gib(s.budgetMiB)}` : ''} GiB
                {s.sleeping ? ` · asleep${s.hostRamMiB ? `, ${gib(s.hostRamMiB)} GiB RAM` : ''}` : ''}
              </span>
            </li>
          ) : (
            <li key={s.kind}>
              <span className={`swatch swatch-${s.kind}`} />
              <span className="legend-name">{s.kind === 'other' ? 'Other processes' : s.kind === 'reserved' ? 'Reserved' : 'Free'}</span>
              <span className="num muted">{gib(s.spanMiB)} GiB</span>
            </li>
          ),
        )}
      </ul>
      {extras.length > 0 ? <div className="gpu-extras muted num">{extras.join(' · ')}</div> : null}
    </section>
  );
}

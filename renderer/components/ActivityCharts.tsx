// The last minutes at a glance: VRAM per GPU and generation tokens/s per model (GET /gateway/history).
import type { ReactElement } from 'react';
import type { HistoryDocument, ModelStatus } from '../../gateway/status-types.js';
import { useModelColor } from '../lib/colors.js';
import { niceMax, tokensPerSecond } from '../lib/engine.js';
import { gib } from '../lib/format.js';
import { LineChart, type ChartSeries } from './LineChart.js';

const GPU_COLORS = ['var(--model-0)', 'var(--model-2)', 'var(--model-3)', 'var(--model-4)', 'var(--model-5)', 'var(--model-6)'];

const last = (values: ReadonlyArray<number | null>): number | null => {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
};

export function ActivityCharts({ history, models }: { history: HistoryDocument; models: readonly ModelStatus[] }): ReactElement {
  const modelColor = useModelColor();
  const span = history.at.length > 1 ? (history.at[history.at.length - 1] - history.at[0]) / 1000 : history.windowSeconds;

  const gpuSeries: ChartSeries[] = history.gpus.map((g, i) => ({
    key: `gpu-${g.index}`,
    label: g.label ?? `GPU ${g.index}`,
    color: GPU_COLORS[i % GPU_COLORS.length],
    values: g.usedMiB.map((v) => (v === null ? null : v / 1024)),
    current: `${gib(last(g.usedMiB))} / ${gib(g.totalMiB)} GiB`,
  }));
  const gpuMax = Math.max(1, ...history.gpus.map((g) => g.totalMiB / 1024));

  const live = new Map(models.map((m) => [m.id, m.engine]));
  const tokenSeries: ChartSeries[] = history.models
    .filter((m) => live.has(m.id) && m.generationTokensPerSecond.some((v) => v !== null))
    .map((m) => {
      // The figure beside the chart is the live one (the model card's), not the history's last
      // sample, which is up to a refresh older.
      const engine = live.get(m.id);
      const now = engine ? engine.generationTokensPerSecond : last(m.generationTokensPerSecond);
      return {
        key: m.id,
        label: m.id,
        color: modelColor(m.id),
        values: m.generationTokensPerSecond,
        current: `${tokensPerSecond(now)} tok/s`,
      };
    });
  const tokenMax = niceMax(Math.max(0, ...tokenSeries.flatMap((s) => s.values.map((v) => v ?? 0))));

  return (
    <div className="chart-grid-2">
      <LineChart
        title="VRAM per GPU"
        series={gpuSeries}
        max={gpuMax}
        formatY={(v) => `${v.toFixed(0)} GiB`}
        spanSeconds={span}
        description={`VRAM used over the last minutes: ${gpuSeries.map((s) => `${s.label} ${s.current}`).join(', ') || 'no GPU'}`}
      />
      <LineChart
        title="Generation tokens/s"
        series={tokenSeries}
        max={tokenMax}
        formatY={(v) => tokensPerSecond(v)}
        spanSeconds={span}
        description={`Generation tokens per second over the last minutes: ${
          tokenSeries.map((s) => `${s.label} ${s.current}`).join(', ') || 'no engine figures yet'
        }`}
      />
    </div>
  );
}

// A small line of recent values, drawn as SVG (no canvas): a model's tokens/s over the last minutes.
import type { ReactElement } from 'react';
import { linePath, niceMax } from '../lib/engine.js';

const W = 120;
const H = 28;

export function Sparkline({ values, color, label }: { values: ReadonlyArray<number | null>; color: string; label: string }): ReactElement {
  const max = niceMax(Math.max(0, ...values.map((v) => v ?? 0)));
  const d = linePath(values, W, H - 2, max);
  return (
    <svg className="sparkline" viewBox={`0 -1 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={label}>
      <line x1={0} x2={W} y1={H - 2} y2={H - 2} className="spark-base" />
      {d ? <path d={d} fill="none" stroke={color} strokeWidth={1.5} vectorEffect="non-scaling-stroke" /> : null}
    </svg>
  );
}

// A line chart of a few series over the same sample times, drawn as SVG by React (no canvas, no
// chart library): light grid, y-axis labels at 0, half and max, the time span below.
import type { ReactElement } from 'react';
import { linePath } from '../lib/engine.js';

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
  values: ReadonlyArray<number | null>;
  /** The latest value, as shown in the legend. */
  current: string;
}

const W = 600;
const H = 140;

export function LineChart(props: {
  title: string;
  series: readonly ChartSeries[];
  max: number;
  formatY(v: number): string;
  spanSeconds: number;
  /** What a screen reader hears: the chart's meaning with the current values. */
  description: string;
}): ReactElement {
  const { series, max } = props;
  const span = props.spanSeconds < 90 ? `−${Math.max(1, Math.round(props.spanSeconds))} s` : `−${Math.round(props.spanSeconds / 60)} min`;
  return (
    <figure className="card chart">
      <figcaption className="chart-head">
        <h3>{props.title}</h3>
        <ul className="legend chart-legend">
          {series.map((s) => (
            <li key={s.key}>
              <span className="swatch" style={{ ['--c' as string]: s.color }} aria-hidden />
              <span className="legend-name">{s.label}</span>
              <span className="num muted">{s.current}</span>
            </li>
          ))}
        </ul>
      </figcaption>
      <div className="chart-body">
        <div className="chart-y num muted" aria-hidden>
          <span>{props.formatY(max)}</span>
          <span>{props.formatY(max / 2)}</span>
          <span>0</span>
        </div>
        <svg className="chart-svg" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={props.description}>
          {[0, 0.5, 1].map((f) => (
            <line key={f} x1={0} x2={W} y1={f * (H - 1) + 0.5} y2={f * (H - 1) + 0.5} className="chart-grid" />
          ))}
          {series.map((s) => {
            const d = linePath(s.values, W, H - 1, max);
            return d ? (
              <path key={s.key} d={d} fill="none" stroke={s.color} strokeWidth={2} vectorEffect="non-scaling-stroke" data-series={s.key} />
            ) : null;
          })}
        </svg>
      </div>
      <div className="chart-x num muted" aria-hidden>
        <span>{span}</span>
        <span>now</span>
      </div>
    </figure>
  );
}

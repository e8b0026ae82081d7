// Time-series charts on uPlot, themed for the demo, resized with their box,
// with a small hover tooltip instead of uPlot's table legend.

import uPlot from '/node_modules/uplot/dist/uPlot.esm.js';

const AXIS = '#8b9ab3';
const GRID = 'rgba(148, 163, 184, 0.10)';
const FONT = '11px Inter, ui-sans-serif, system-ui, sans-serif';

/** A vertical gradient from `color` at `alpha` to transparent. */
function gradient(color, alpha) {
  return (u) => {
    const { ctx, bbox } = u;
    if (!bbox.height) return color;
    const g = ctx.createLinearGradient(0, bbox.top, 0, bbox.top + bbox.height);
    g.addColorStop(0, withAlpha(color, alpha));
    g.addColorStop(1, withAlpha(color, 0));
    return g;
  };
}

function withAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const hmFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** One-line time axis labels: 14:05, 14:05:30 or Nov 25. */
function timeTicks(u, splits, axisIdx, space, incr) {
  return splits.map((v) => {
    const d = new Date(v * 1000);
    if (incr >= 86400) return dayFmt.format(d);
    return incr < 60 ? timeFmt.format(d) : hmFmt.format(d);
  });
}

/** A hover tooltip listing each series' value at the cursor. */
function tooltipPlugin(series) {
  let tip;
  return {
    hooks: {
      init(u) {
        tip = document.createElement('div');
        tip.className = 'chart-tip';
        tip.hidden = true;
        u.over.appendChild(tip);
        u.over.addEventListener('mouseleave', () => (tip.hidden = true));
      },
      setCursor(u) {
        const idx = u.cursor.idx;
        if (idx == null || u.cursor.left < 0) {
          tip.hidden = true;
          return;
        }
        const rows = series
          .map((s, i) => {
            const v = u.data[i + 1][idx];
            if (v == null) return '';
            return `<div><i style="background:${s.stroke}"></i>${s.label}<b>${v.toFixed(s.digits ?? 1)}${s.unit ?? ''}</b></div>`;
          })
          .join('');
        if (!rows) {
          tip.hidden = true;
          return;
        }
        tip.innerHTML = `<time>${timeFmt.format(new Date(u.data[0][idx] * 1000))}</time>${rows}`;
        tip.hidden = false;
        const left = u.cursor.left;
        const flip = left > u.over.clientWidth / 2;
        tip.style.left = flip ? '' : `${left + 12}px`;
        tip.style.right = flip ? `${u.over.clientWidth - left + 12}px` : '';
        tip.style.top = '6px';
      },
    },
  };
}

/**
 * A line chart over time in `el` (which sets its size). `series`:
 * [{ label, stroke, unit, digits, fill, dash, width }]; `spark` hides axes,
 * grid and cursor. Returns { set(data), plot }; data is uPlot's aligned data
 * ([xs in seconds, ...ys]).
 */
export function timeChart(el, { series, spark = false, yPad = 0.5, yMin, yMax, yUnit = '' }) {
  const size = () => ({ width: Math.max(60, el.clientWidth), height: Math.max(40, el.clientHeight) });
  const opts = {
    ...size(),
    padding: spark ? [4, 0, 2, 0] : [10, 22, 0, 0],
    legend: { show: false },
    cursor: spark
      ? { show: false }
      : { points: { size: 7, width: 2 }, drag: { x: false, y: false }, y: false },
    select: { show: false },
    scales: {
      x: { time: true },
      y: {
        range: (u, min, max) => {
          if (min == null) return [yMin ?? 0, yMax ?? 1];
          const lo = yMin !== undefined ? Math.min(yMin, min) : min - yPad;
          const hi = yMax !== undefined ? Math.max(yMax, max) : max + yPad;
          return [lo, hi];
        },
      },
    },
    axes: spark
      ? [{ show: false }, { show: false }]
      : [
          {
            stroke: AXIS, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { show: false }, size: 26, space: 84,
            values: timeTicks,
          },
          {
            stroke: AXIS, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { show: false }, size: 46, space: 28,
            values: (u, vals) => vals.map((v) => `${+v.toFixed(2)}${yUnit}`),
          },
        ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.width ?? (spark ? 1.5 : 2),
        dash: s.dash,
        fill: s.fill ? gradient(s.stroke, s.fill) : undefined,
        points: { show: false },
        spanGaps: false,
      })),
    ],
    plugins: spark ? [] : [tooltipPlugin(series)],
  };
  const empty = [[], ...series.map(() => [])];
  const plot = new uPlot(opts, empty, el);
  let w = 0;
  let h = 0;
  new ResizeObserver(() => {
    const s = size();
    if (s.width === w && s.height === h) return;
    w = s.width;
    h = s.height;
    plot.setSize(s);
  }).observe(el);
  return {
    plot,
    set(data) {
      plot.setData(data);
    },
  };
}

/** Aligns several [xs, ys] tables on one x axis (gaps stay gaps). */
export function align(tables) {
  if (tables.length === 1) return tables[0];
  return uPlot.join(tables);
}

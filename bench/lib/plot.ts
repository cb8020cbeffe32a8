// A small SVG line-chart writer for the benchmark figures: axes with ticks, title, legend, one
// colour per series, optional log-scale x (bytes communicated span decades). No dependency, so
// the figures render the same anywhere an SVG does.

export interface Series {
  name: string;
  /** [x, y] pairs; points with a non-finite coordinate (or x ≤ 0 on a log axis) are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  /** Log-scale y: for quantities that grow with a log-scaled x, so a power law shows as a line. */
  logY?: boolean;
  width?: number;
  height?: number;
  /** Tick label text; defaults to a short number (1.5k, 20M). */
  formatX?: (x: number) => string;
  formatY?: (y: number) => string;
  /** Include this x in the axis range (0 for steps and seconds, so lines start where training did). */
  xMin?: number;
  /** Draw a dot on every point (for sparse series such as evaluations). */
  markers?: boolean;
  /** A dashed horizontal line with a label, e.g. a target accuracy. */
  hline?: { y: number; label: string };
}

/** Tableau 10: distinguishable, and still readable in grey scale by lightness. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

export function lineChart(o: ChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 400;
  const logX = o.logX ?? false;
  const logY = o.logY ?? false;
  const fx = o.formatX ?? shortNumber;
  const fy = o.formatY ?? shortNumber;
  const series = o.series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0)),
  }));
  const all = series.flatMap((s) => s.points);
  const ys = all.map((p) => p[1]).concat(o.hline ? [o.hline.y] : []);
  const xs = all.map((p) => p[0]).concat(o.xMin !== undefined && (!logX || o.xMin > 0) ? [o.xMin] : []);

  // The legend sits right of the plot, so it never hides a line.
  const legendWidth = Math.round(Math.min(200, 28 + 6.3 * Math.max(0, ...series.map((s) => s.name.length))));
  const m = { left: 64, right: 16 + legendWidth, top: 36, bottom: 48 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;

  const xTicks = logX ? logTicks(xs) : niceTicks(xs);
  const yTicks = logY ? logTicks(ys) : niceTicks(ys);
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const tx = logX ? (x: number) => Math.log10(x) : (x: number) => x;
  const ty = logY ? (y: number) => Math.log10(y) : (y: number) => y;
  const px = (x: number) => m.left + ((tx(x) - tx(x0)) / (tx(x1) - tx(x0) || 1)) * plotW;
  const py = (y: number) => m.top + plotH - ((ty(y) - ty(y0)) / (ty(y1) - ty(y0) || 1)) * plotH;
  const r = (v: number) => v.toFixed(1);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    // Centred on the whole figure and shrunk to fit, so a long title over a narrow plot (a wide legend) is not cut off.
    `<text x="${r(width / 2)}" y="22" text-anchor="middle" font-size="${titleFontSize(o.title, width)}" font-weight="bold" ${FONT}>${esc(o.title)}</text>`,
  ];
  // Grid and ticks.
  for (const t of xTicks) {
    const x = r(px(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + plotH}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${x}" y1="${m.top + plotH}" x2="${x}" y2="${m.top + plotH + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${m.top + plotH + 18}" text-anchor="middle" font-size="11" ${FONT}>${esc(fx(t))}</text>`);
  }
  for (const t of yTicks) {
    const y = r(py(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" dy="0.35em" text-anchor="end" font-size="11" ${FONT}>${esc(fy(t))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${r(m.left + plotW / 2)}" y="${height - 10}" text-anchor="middle" font-size="12" ${FONT}>${esc(o.xLabel)}${logX ? ' (log scale)' : ''}</text>`);
  out.push(`<text transform="translate(16 ${r(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${esc(o.yLabel)}${logY ? ' (log scale)' : ''}</text>`);

  if (o.hline && o.hline.y >= y0 && o.hline.y <= y1) {
    const y = r(py(o.hline.y));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#666" stroke-dasharray="5 4"/>`);
    out.push(`<text x="${m.left + 4}" y="${y}" dy="-4" font-size="10" fill="#444" ${FONT}>${esc(o.hline.label)}</text>`);
  }

  // Lines clipped to the plot area.
  out.push(`<clipPath id="plot"><rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  out.push('<g clip-path="url(#plot)" fill="none" stroke-width="2" stroke-linejoin="round">');
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    if (s.points.length > 1) {
      out.push(`<polyline stroke="${colour}" points="${s.points.map(([x, y]) => `${r(px(x))},${r(py(y))}`).join(' ')}"/>`);
    }
    if (o.markers || s.points.length === 1) {
      for (const [x, y] of s.points) out.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="2.5" fill="${colour}" stroke="none"/>`);
    }
  });
  out.push('</g>');

  // Legend.
  const lx = m.left + plotW + 14;
  series.forEach((s, i) => {
    const y = m.top + 8 + i * 18;
    const colour = PALETTE[i % PALETTE.length]!;
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 18}" y2="${y}" stroke="${colour}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 24}" y="${y}" dy="0.35em" font-size="11" ${FONT}>${esc(s.name)}${s.points.length === 0 ? ' (no data)' : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** About 5 round-numbered ticks covering the values (steps of 1, 2 or 5 × 10ⁿ). */
export function niceTicks(values: readonly number[], target = 5): number[] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t < hi + step - 1e-9 * step; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering the values; 1-2-5 steps when they span three decades or less. */
export function logTicks(values: readonly number[]): number[] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return [1, 10];
  let lo = Math.floor(Math.log10(Math.min(...positive)) + 1e-9);
  let hi = Math.ceil(Math.log10(Math.max(...positive)) - 1e-9);
  if (hi === lo) hi++;
  if (hi - lo > 3) {
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return ticks;
  }
  // A narrow span: 1, 2, 5 within the decades, trimmed to the data (keeping one tick either side).
  const all: number[] = [];
  for (let e = lo; e <= hi; e++) for (const f of [1, 2, 5]) all.push(f * 10 ** e);
  const min = Math.min(...positive);
  const max = Math.max(...positive);
  const startIndex = Math.max(0, all.findLastIndex((t) => t <= min));
  const endIndex = all.findIndex((t) => t >= max);
  lo = startIndex;
  hi = endIndex < 0 ? all.length - 1 : endIndex;
  return all.slice(lo, hi + 1);
}

/** 1234567 → "1.2M", 0.05 → "0.05": short tick labels with SI suffixes. */
export function shortNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  for (const [div, suffix] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (a >= div) return `${trim(v / div)}${suffix}`;
  }
  return trim(v);
}

function trim(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 15 px, or less so that the title (about 0.6 em a character in bold sans) fits the figure's width. */
function titleFontSize(title: string, width: number): number {
  return Math.round(Math.min(15, (width - 24) / (0.6 * Math.max(1, title.length))) * 10) / 10;
}

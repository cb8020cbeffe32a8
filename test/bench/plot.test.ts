import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lineChart, logTicks, niceTicks, shortNumber } from '../../bench/lib/plot.js';
import { svgProblems } from './well-formed.js';

const test = suite('bench/lib/plot: the SVG line-chart writer');

test('nice ticks cover the data with 1, 2 or 5 × 10ⁿ steps', () => {
  for (const values of [[0.13, 2.31], [0, 192], [-3, 7], [1e6, 5.3e7], [0.9012, 0.9671]]) {
    const ticks = niceTicks(values);
    assert.ok(ticks[0]! <= Math.min(...values) && ticks[ticks.length - 1]! >= Math.max(...values), `${ticks} covers ${values}`);
    assert.ok(ticks.length >= 3 && ticks.length <= 12, `${ticks.length} ticks for ${values}`);
    const step = ticks[1]! - ticks[0]!;
    const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
    assert.ok([1, 2, 5].includes(mantissa), `step ${step} is 1, 2 or 5 × 10ⁿ`);
  }
  assert.equal(niceTicks([4, 4]).length > 1, true, 'a constant series still gets an axis');
});

test('log ticks are powers of ten over wide spans and 1-2-5 over narrow ones, covering the data', () => {
  assert.equal(logTicks([3e3, 7e8]), [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]);
  const narrow = logTicks([1e6, 5e7]);
  assert.equal(narrow, [1e6, 2e6, 5e6, 1e7, 2e7, 5e7]);
  const trimmed = logTicks([4.6e3, 7.4e4]);
  assert.ok(trimmed[0]! <= 4.6e3 && trimmed[trimmed.length - 1]! >= 7.4e4 && trimmed[0]! >= 2e3, `${trimmed}`);
});

test('tick labels are short, with SI suffixes', () => {
  assert.is(shortNumber(1_500_000), '1.5M');
  assert.is(shortNumber(20e9), '20G');
  assert.is(shortNumber(0.05), '0.05');
  assert.is(shortNumber(0), '0');
  assert.is(shortNumber(192), '192');
});

test('a chart is well-formed SVG with one line and one legend entry per series, skipping unplottable points', () => {
  const svg = lineChart({
    title: 'loss <by> step & "mode"', xLabel: 'bytes', yLabel: 'accuracy', logX: true, markers: true,
    hline: { y: 0.9, label: 'target 90%' },
    series: [
      { name: 'sync', points: [[1e3, 0.5], [1e4, 0.8], [1e5, 0.92], [0, 0.95], [2e5, Number.NaN]] },
      { name: 'K=8', points: [[2e2, 0.4], [3e3, 0.85], [1e4, 0.93]] },
      { name: 'empty', points: [] },
    ],
  });
  assert.equal(svgProblems(svg), []);
  assert.is(svg.match(/<polyline /g)?.length, 2, 'one line for each series with points');
  assert.is(svg.match(/<circle /g)?.length, 6, 'a marker on each plottable point (x ≤ 0 and NaN skipped on a log axis)');
  for (const name of ['sync', 'K=8', 'empty (no data)']) assert.ok(svg.includes(`>${name}</text>`), `legend names ${name}`);
  assert.ok(svg.includes('loss &lt;by&gt; step &amp; &quot;mode&quot;'), 'the title is escaped');
  assert.ok(svg.includes('stroke-dasharray'), 'the target line is drawn');
});

test('points map inside the plot area, the largest y at the top', () => {
  const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, 0], [10, 1]] }] });
  const pts = /<polyline [^>]*points="([^"]+)"/.exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number));
  const frame = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/.exec(svg)!.slice(1).map(Number);
  const [fx, fy, fw, fh] = frame as [number, number, number, number];
  for (const [x, y] of pts as Array<[number, number]>) assert.ok(x >= fx && x <= fx + fw && y >= fy && y <= fy + fh, `${x},${y} inside the frame`);
  assert.ok(pts[1]![1]! < pts[0]![1]!, 'y = 1 is drawn above y = 0');
});

test.run();

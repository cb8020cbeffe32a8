// bench/lm --quick: the language-model benchmark runs end to end through dist/train.js (a tiny GPT on
// Brown, sync against DiLoCo K=4) and writes a report whose numbers hang together.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LmReport } from '../../bench/lm.js';
import { secondsToReach } from '../../bench/lib/lm/report.js';
import { runNode } from '../helpers/processes.js';
import { svgProblems } from './well-formed.js';

const SCRIPT = fileURLToPath(new URL('../../bench/lm.js', import.meta.url));
const test = suite('bench/lm --quick (smoke test)');
const out = mkdtempSync(join(tmpdir(), 'bench-lm-test-'));

let result: Awaited<ReturnType<typeof runNode>>;
test.before(async () => {
  result = await runNode(SCRIPT, ['--quick', '--json', '--out', out]);
});

test('exits 0, prints the adapter and a line per run, and --json prints the report it wrote', () => {
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /adapter: \S/);
  assert.is(result.stderr.match(/^\[\d\/2\] 1gbit /gm)?.length, 2, result.stderr);
  assert.equal(JSON.parse(result.stdout.trim()), JSON.parse(readFileSync(join(out, 'lm.json'), 'utf8')));
});

test('each run: evaluations up to the last step, tokens and rounds as configured, and DiLoCo K=4 sends about a quarter of sync\'s bytes', () => {
  const report = JSON.parse(readFileSync(join(out, 'lm.json'), 'utf8')) as LmReport;
  const { procs, steps, evalEvery, blockSize } = report.settings;
  assert.equal(report.runs.map((r) => `${r.link}/${r.mode}`), ['1gbit/sync', '1gbit/diloco-k4']);
  for (const r of report.runs) {
    assert.is(r.steps, steps);
    assert.is(r.tokens, procs * steps * 4 * blockSize, 'workers × steps × batch 4 × block');
    // At the first averaging point at or after every evalEvery steps (every step in sync).
    const every = report.settings.modes.find((m) => m.name === r.mode)!.roundEvery;
    const due = Array.from({ length: steps / evalEvery }, (_, i) => Math.ceil(((i + 1) * evalEvery) / every) * every);
    assert.equal(r.evals.map((e) => e.step), [...new Set(due)], `${r.mode}: evaluation steps`);
    assert.ok(r.evals.every((e) => Number.isFinite(e.loss) && e.loss > 0 && e.loss < 6), `${r.mode}: losses`);
    assert.is(r.evals.at(-1)!.loss, r.finalLoss, 'the last evaluation scores the final weights');
    assert.ok(r.evals.every((e, i) => i === 0 || e.trainSeconds >= r.evals[i - 1]!.trainSeconds), 'time runs forward');
    assert.ok(r.finalLoss < Math.log(256), `${r.mode} learns something: ${r.finalLoss}`);
  }
  const [sync, diloco] = report.runs;
  assert.is(sync!.rounds, steps);
  assert.is(diloco!.rounds, steps / 4);
  const c = report.comparisons.find((x) => x.mode === 'diloco-k4')!;
  assert.ok(c.fewerBytes > 3 && c.fewerBytes < 4.5, `sync ÷ DiLoCo K=4 bytes: ${c.fewerBytes}`);
  assert.ok(Math.abs(c.lossGap - (diloco!.finalLoss / sync!.finalLoss - 1)) < 1e-12);
});

test('the Markdown table and the SVG figures are written and well formed', () => {
  const md = readFileSync(join(out, 'lm.md'), 'utf8');
  assert.match(md, /\| sync \| \d\.\d{4} \| – \| 16 \|/);
  assert.match(md, /\| DiLoCo K=4 \| \d\.\d{4} \| [-+]\d+\.\d\d % \| 4 \|/);
  for (const f of ['lm-loss-vs-tokens.svg', 'lm-loss-vs-bytes.svg', 'lm-1gbit-loss-vs-time.svg']) {
    assert.ok(existsSync(join(out, f)), f);
    assert.equal(svgProblems(readFileSync(join(out, f), 'utf8')), [], f);
  }
});

test('time to a loss interpolates between evaluations and is null when never reached', () => {
  const evals = [[10, 5], [20, 4], [30, 3]].map(([t, loss], i) => ({ step: i + 1, tokens: 0, loss: loss!, trainSeconds: t!, bytesPerWorker: 0 }));
  assert.is(secondsToReach(evals, 5), 10);
  assert.is(secondsToReach(evals, 3.5), 25);
  assert.is(secondsToReach(evals, 6), 10);
  assert.is(secondsToReach(evals, 2.9), null);
});

test('bad flags exit 2 naming the problem', async () => {
  const r = await runNode(SCRIPT, ['--steps', '10', '--eval-every', '3']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--eval-every 3 must divide --steps 10/);
  const m = await runNode(SCRIPT, ['--only-modes', 'k7']);
  assert.is(m.code, 2);
  assert.match(m.stderr, /--only-modes takes a comma-separated subset of sync,k8,k32,diloco-k32,diloco-k128/);
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();

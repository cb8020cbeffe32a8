import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../bench/localsgd.js';
import { childPids, isAlive, runNode, startNode } from '../helpers/processes.js';
import { within } from '../comm/fixtures/procs.js';
import { svgProblems } from './well-formed.js';

const SCRIPT = fileURLToPath(new URL('../../bench/localsgd.js', import.meta.url));
const run = (args: string[]) => runNode(SCRIPT, args);
const test = suite('bench/localsgd --quick (smoke test)');
const out = mkdtempSync(join(tmpdir(), 'bench-localsgd-test-'));

let result: Awaited<ReturnType<typeof run>>;
test.before(async () => {
  result = await run(['--quick', '--json', '--out', out]);
});

test('exits 0, prints the adapter and a line per run, and --json prints the same report it wrote', () => {
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /adapter: \S/);
  assert.is(result.stderr.match(/^\[ ?\d+\/4\]/gm)?.length, 4, `a progress line per run:\n${result.stderr}`);
  const printed = JSON.parse(result.stdout.trim()) as Report;
  const written = JSON.parse(readFileSync(join(out, 'localsgd.json'), 'utf8')) as Report;
  assert.equal(printed, written);
});

test('the JSON holds every run with the recorded measures, and Local SGD at K=4 communicates about a quarter as often', () => {
  const report = JSON.parse(readFileSync(join(out, 'localsgd.json'), 'utf8')) as Report;
  assert.is(report.benchmark, 'localsgd');
  assert.ok(report.adapter.length > 0 && report.date.length > 0 && report.machine.cores > 0);
  assert.equal(report.runs.map((r) => `${r.group}/${r.link}/${r.label}`), ['mnist/1gbit/sync', 'mnist/1gbit/K=4', 'large/none/sync', 'large/none/K=4']);
  for (const r of report.runs) {
    const where = `${r.group} ${r.link} ${r.label}`;
    assert.ok(r.testAccuracy > 0 && r.testAccuracy <= 1, `${where}: accuracy ${r.testAccuracy}`);
    assert.ok(Number.isFinite(r.finalTrainLoss) && r.finalTrainLoss > 0, `${where}: train loss`);
    assert.ok(r.trainSeconds > 0 && r.wallSeconds >= r.trainSeconds, `${where}: train ${r.trainSeconds} s within wall ${r.wallSeconds} s`);
    assert.ok(r.timeToTargetSeconds === null || r.timeToTargetSeconds <= r.trainSeconds, `${where}: time to target`);
    assert.ok(r.bytesCommunicated > 0 && r.bytesPerStep === r.bytesCommunicated / r.steps, `${where}: bytes`);
    assert.ok(r.commShareOfWall > 0 && r.commShareOfWall < 1, `${where}: comm share of wall ${r.commShareOfWall}`);
    assert.ok(r.lossCurve.length > 0 && r.evals.length > 0, `${where}: curves`);
    assert.is(r.evals[r.evals.length - 1]!.step, r.steps, `${where}: the last evaluation is at the last step`);
  }
  const [sync, k4] = report.runs;
  assert.is(sync!.rounds, sync!.steps, 'sync averages every step');
  assert.is(k4!.rounds, k4!.steps / 4, 'K=4 averages every 4 steps');
  assert.ok(k4!.bytesPerStep < sync!.bytesPerStep / 3, `bytes per step ${k4!.bytesPerStep} vs ${sync!.bytesPerStep}`);
});

test('the Markdown has a table row per run and links every figure, and every figure is a well-formed chart', () => {
  const md = readFileSync(join(out, 'localsgd.md'), 'utf8');
  assert.is(md.match(/^\| sync \|/gm)?.length, 2);
  assert.is(md.match(/^\| K=4 \|/gm)?.length, 2);
  const svgs = readdirSync(out).filter((f) => f.endsWith('.svg'));
  assert.is(svgs.length, 6, `three figures per link and group: ${svgs.join(', ')}`);
  for (const f of svgs) {
    assert.ok(md.includes(`](${f})`), `localsgd.md links ${f}`);
    const svg = readFileSync(join(out, f), 'utf8');
    assert.equal(svgProblems(svg), [], f);
    assert.ok(/<polyline /.test(svg) || /<circle /.test(svg), `${f} draws data`);
    assert.ok(svg.includes('>sync</text>') && svg.includes('>K=4</text>'), `${f} has a legend`);
  }
});

test('--suite beyond --quick: warmup, f16 averaging and DiLoCo against plain Local SGD at the same K, in localsgd-beyond.*', async () => {
  const dir = join(out, 'beyond');
  const r = await run(['--suite', 'beyond', '--quick', '--out', dir]);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'localsgd-beyond.json'), 'utf8')) as Report;
  assert.equal(report.runs.map((x) => x.mode), ['k4', 'k4-warmup', 'k4-f16', 'k4-diloco']);
  const [plain, warmup, f16, diloco] = report.runs;
  for (const x of report.runs) assert.ok(x.testAccuracy > 0 && x.testAccuracy <= 1 && x.steps === plain!.steps, `${x.label}`);
  // 16 steps, K = 4: 4 parameter rounds; with 4 warmup steps, 4 gradient rounds and then rounds after steps 8, 12, 16.
  assert.is(plain!.rounds, 4);
  assert.is(warmup!.rounds, 4 + 3);
  assert.is(diloco!.rounds, 4);
  // f16 halves every round after the first; DiLoCo sends what plain averaging sends.
  assert.ok(f16!.bytesCommunicated < 0.8 * plain!.bytesCommunicated, `f16 ${f16!.bytesCommunicated} vs f32 ${plain!.bytesCommunicated} bytes`);
  assert.ok(Math.abs(diloco!.bytesCommunicated - plain!.bytesCommunicated) < 0.02 * plain!.bytesCommunicated, 'DiLoCo moves the same tensors');
  const md = readFileSync(join(dir, 'localsgd-beyond.md'), 'utf8');
  assert.match(md, /^# Beyond Accelerate/m);
  assert.match(md, /\| mode \| test acc \| Δ vs K=4 \|/, 'compared with plain Local SGD at the same K');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.svg'))) assert.equal(svgProblems(readFileSync(join(dir, f), 'utf8')), [], f);
});

test('a bad flag exits 2 naming the choices, and runs nothing', async () => {
  const r = await run(['--only-modes', 'k3', '--out', join(out, 'never')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--only-modes takes a comma-separated subset of sync,k2,k4,k8,k16,k32,k50,k8-warmup,\S+ \(got "k3"\)/);
  assert.not.ok(existsSync(join(out, 'never')));
});

test('SIGTERM to the benchmark stops the training run it started, workers and all, and exits non-zero saying so', async () => {
  const bench = startNode(SCRIPT, ['--quick', '--out', join(out, 'stopped')]);
  const benchPid = bench.child.pid!;
  // The run and its workers, seen while they live: the benchmark's train.js child and that child's children.
  const seen = new Set<number>();
  const trainPid = await within(60_000, (async () => {
    for (;;) {
      const [train] = childPids(benchPid);
      if (train !== undefined && childPids(train).length > 0) return train;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })(), 'the benchmark\'s first run and its workers');
  [trainPid, ...childPids(trainPid)].forEach((pid) => seen.add(pid));
  bench.child.kill('SIGTERM');
  const finished = await within(60_000, bench.done, 'the stopped benchmark');
  assert.is.not(finished.code, 0);
  assert.match(finished.stderr, /stopped by SIGTERM: the benchmark and its run of \S+train\.js/);
  // train.js waits for its workers before it exits, so once the benchmark is gone nothing may be left.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal([...seen].filter(isAlive), [], 'processes of the stopped run left behind');
});

test.after(() => rmSync(out, { recursive: true, force: true }));
test.run();

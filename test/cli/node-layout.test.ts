// Where a launcher sits in a multi-machine run: torchrun's flags, else what Slurm, a Kubernetes
// Indexed Job or a torchrun-style wrapper puts in the environment, else torchrun's defaults.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseTrainArgs, UsageError } from '../../src/cli/config.js';
import {
  describeNodeLayout, expandHostlist, findOnPath, firstSlurmHost, globalRanksOf, resolveNodeLayout, type NodeFlags,
} from '../../src/cli/node-layout.js';
import { trainConfigSchema } from '../../src/train/config.js';
import { tempDir } from '../helpers/train-run.js';

const test = suite('node layout');
const dir = tempDir();

/** An environment with nothing a scheduler sets, and no scontrol (PATH empty): the expansion path. */
const BARE: NodeJS.ProcessEnv = { PATH: '' };
const TWO = { nnodes: '2', nodeRank: '1', nprocPerNode: '4', masterAddr: '10.0.0.1' } satisfies NodeFlags;

function refused(flags: NodeFlags, env: NodeJS.ProcessEnv, pattern: RegExp): void {
  try {
    resolveNodeLayout(flags, env);
  } catch (e) {
    assert.instance(e, UsageError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`${JSON.stringify(flags)} with ${JSON.stringify(env)} should be refused`);
}

function expansionRefuses(list: string, pattern: RegExp): void {
  assert.throws(() => expandHostlist(list), (e: Error) => pattern.test(e.message), `"${list}": expected ${pattern}`);
}

/** The real scontrol of slurm-wlm, with a minimal slurm.conf (no daemon needed to expand a host list). */
function realScontrol(): { path: string; env: NodeJS.ProcessEnv } {
  const path = findOnPath('scontrol', process.env.PATH);
  if (path === undefined) {
    throw new Error('scontrol is not on PATH: install slurm-wlm (scripts/setup-cluster.sh does) to check the host list expansion against Slurm\'s own');
  }
  const conf = dir.file('slurm.conf');
  writeFileSync(conf, 'ClusterName=layout\nSlurmctldHost=localhost\nNodeName=n1 CPUs=1\nPartitionName=p Nodes=n1\n');
  return { path, env: { PATH: dirname(path), SLURM_CONF: conf } };
}

test('without a node flag the environment is not read: --procs 4 inside a Slurm job is one machine', () => {
  const slurm = { SLURM_NNODES: '2', SLURM_NODEID: '1', SLURM_JOB_NODELIST: 'gpu[1-2]', NODE_RANK: 'x', MASTER_ADDR: '' };
  assert.is(resolveNodeLayout({ procs: '4' }, slurm), undefined);
  assert.is(resolveNodeLayout({}, slurm), undefined);
  const c = parseTrainArgs(['--procs', '4'], slurm);
  assert.equal([c.nnodes, c.nodeRank, c.procs, c.nprocPerNode, c.masterAddr], [1, 0, 4, undefined, undefined]);
});

test('flags alone give the layout, the world size nnodes × nproc-per-node, and the default port 29500', () => {
  const layout = resolveNodeLayout(TWO, BARE)!;
  assert.equal(layout, {
    nnodes: 2, nodeRank: 1, nprocPerNode: 4, masterAddr: '10.0.0.1', masterPort: 29500, procs: 8,
    from: { nnodes: '--nnodes', nodeRank: '--node-rank', nprocPerNode: '--nproc-per-node', masterAddr: '--master-addr', masterPort: 'default' },
  });
  const c = parseTrainArgs(['--nnodes', '2', '--node-rank', '1', '--nproc-per-node', '4', '--master-addr', '10.0.0.1', '--master-port', '29400'], BARE);
  assert.equal([c.nnodes, c.nodeRank, c.nprocPerNode, c.procs, c.masterAddr, c.masterPort], [2, 1, 4, 8, '10.0.0.1', 29400]);
});

test('any one node flag turns multi-machine mode on; the rest take torchrun\'s defaults (1 node, rank 0, 1 worker, 127.0.0.1)', () => {
  for (const flags of [{ nnodes: '1' }, { nodeRank: '0' }, { nprocPerNode: '1' }, { masterAddr: '127.0.0.1' }, { masterPort: '29500' }]) {
    const layout = resolveNodeLayout(flags, BARE)!;
    assert.equal([layout.nnodes, layout.nodeRank, layout.nprocPerNode, layout.procs, layout.masterAddr, layout.masterPort], [1, 0, 1, 1, '127.0.0.1', 29500], JSON.stringify(flags));
  }
  assert.is(resolveNodeLayout({ nprocPerNode: '3' }, BARE)!.procs, 3);
});

test('a flag beats the environment, value by value', () => {
  const env = { NNODES: '4', NODE_RANK: '3', MASTER_ADDR: 'from-env', MASTER_PORT: '1234', PATH: '' };
  const layout = resolveNodeLayout(TWO, env)!;
  assert.equal([layout.nnodes, layout.nodeRank, layout.masterAddr, layout.masterPort], [2, 1, '10.0.0.1', 1234]);
  assert.is(layout.from.masterPort, 'MASTER_PORT');
  const fromEnv = resolveNodeLayout({ nprocPerNode: '2' }, env)!;
  assert.equal([fromEnv.nnodes, fromEnv.nodeRank, fromEnv.procs, fromEnv.masterAddr, fromEnv.masterPort], [4, 3, 8, 'from-env', 1234]);
  assert.equal(fromEnv.from, { nnodes: 'NNODES', nodeRank: 'NODE_RANK', nprocPerNode: '--nproc-per-node', masterAddr: 'MASTER_ADDR', masterPort: 'MASTER_PORT' });
  assert.is(resolveNodeLayout({ nprocPerNode: '2', masterPort: '29501' }, env)!.masterPort, 29501);
});

test('node count: NNODES, then SLURM_NNODES, then SLURM_JOB_NUM_NODES', () => {
  const nnodes = (env: NodeJS.ProcessEnv) => resolveNodeLayout({ masterAddr: 'm' }, { PATH: '', ...env })!;
  assert.equal([nnodes({ NNODES: '3', SLURM_NNODES: '5', SLURM_JOB_NUM_NODES: '7' }).nnodes, nnodes({ NNODES: '3' }).from.nnodes], [3, 'NNODES']);
  assert.equal([nnodes({ SLURM_NNODES: '5', SLURM_JOB_NUM_NODES: '7' }).nnodes, nnodes({ SLURM_NNODES: '5' }).from.nnodes], [5, 'SLURM_NNODES']);
  assert.is(nnodes({ SLURM_JOB_NUM_NODES: '7' }).nnodes, 7);
  assert.is(nnodes({}).nnodes, 1);
});

test('node rank: NODE_RANK, then GROUP_RANK, then SLURM_NODEID, then a Kubernetes Indexed Job\'s JOB_COMPLETION_INDEX', () => {
  const rank = (env: NodeJS.ProcessEnv) => {
    const layout = resolveNodeLayout({ nnodes: '8', masterAddr: 'm' }, { PATH: '', ...env })!;
    return [layout.nodeRank, layout.from.nodeRank];
  };
  const all = { NODE_RANK: '1', GROUP_RANK: '2', SLURM_NODEID: '3', JOB_COMPLETION_INDEX: '4' };
  assert.equal(rank(all), [1, 'NODE_RANK']);
  assert.equal(rank({ ...all, NODE_RANK: undefined }), [2, 'GROUP_RANK']);
  assert.equal(rank({ SLURM_NODEID: '3', JOB_COMPLETION_INDEX: '4' }), [3, 'SLURM_NODEID']);
  assert.equal(rank({ JOB_COMPLETION_INDEX: '4' }), [4, 'JOB_COMPLETION_INDEX']);
  assert.equal(rank({}), [0, 'default']);
});

test('master address: MASTER_ADDR, else the first host of SLURM_JOB_NODELIST or SLURM_NODELIST, else 127.0.0.1 on one machine only', () => {
  const addr = (env: NodeJS.ProcessEnv, nnodes = '2') => {
    const layout = resolveNodeLayout({ nnodes, nodeRank: '0' }, { PATH: '', ...env })!;
    return [layout.masterAddr, layout.from.masterAddr];
  };
  assert.equal(addr({ MASTER_ADDR: 'head', SLURM_JOB_NODELIST: 'gpu[07-08]' }), ['head', 'MASTER_ADDR']);
  assert.equal(addr({ SLURM_JOB_NODELIST: 'gpu[07-08]', SLURM_NODELIST: 'other1' }), ['gpu07', 'SLURM_JOB_NODELIST']);
  assert.equal(addr({ SLURM_NODELIST: 'rack[2-3]-n[04-05]' }), ['rack2-n04', 'SLURM_NODELIST']);
  assert.equal(addr({}, '1'), ['127.0.0.1', 'default']);
  refused({ nnodes: '2', nodeRank: '0' }, BARE, /2 machines \(--nnodes 2\) need the master's address, .*give --master-addr HOST .*or set MASTER_ADDR/);
  refused({ nodeRank: '0' }, { PATH: '', SLURM_NNODES: '3' }, /3 machines \(SLURM_NNODES=3\) need the master's address/);
  refused({ nnodes: '2', nodeRank: '0' }, { PATH: '', SLURM_JOB_NODELIST: 'gpu[07-' }, /^SLURM_JOB_NODELIST=gpu\[07- gives no master address: "\[" never closed in "gpu\[07-"; give --master-addr \(or MASTER_ADDR\)$/);
});

test('master port: MASTER_PORT, else 29500', () => {
  assert.is(resolveNodeLayout({ nnodes: '1' }, { PATH: '', MASTER_PORT: '12345' })!.masterPort, 12345);
  assert.is(resolveNodeLayout({ nnodes: '1' }, BARE)!.masterPort, 29500);
});

test('every value from the environment is checked like its flag, and the message names the variable and its value', () => {
  const flags = { nnodes: '2', masterAddr: 'm' };
  refused(flags, { NODE_RANK: 'x' }, /^NODE_RANK in the environment must be a plain decimal number such as 8, 0\.05 or 1e-3 \(got "x"\); fix the variable or give --node-rank, which takes its place$/);
  refused(flags, { NODE_RANK: '' }, /NODE_RANK in the environment must be a plain decimal number .*\(got ""\)/);
  refused(flags, { SLURM_NODEID: '-1' }, /^SLURM_NODEID in the environment must be a whole number from 0 to 1023 \(got -1\)/);
  refused(flags, { JOB_COMPLETION_INDEX: '0.5' }, /JOB_COMPLETION_INDEX in the environment must be a whole number .*\(got 0\.5\)/);
  refused({ masterAddr: 'm' }, { NNODES: '0' }, /^NNODES in the environment must be a whole number from 1 to 1024 \(got 0\); fix the variable or give --nnodes/);
  refused({ masterAddr: 'm' }, { SLURM_NNODES: 'two' }, /SLURM_NNODES in the environment must be a plain decimal number .*\(got "two"\)/);
  refused(flags, { MASTER_PORT: '70000' }, /^MASTER_PORT in the environment must be a whole number from 1 to 65535 \(got 70000\); fix the variable or give --master-port/);
  refused({ nnodes: '2' }, { MASTER_ADDR: '' }, /^MASTER_ADDR in the environment is empty: give node 0's host name or IP address, or --master-addr to take its place$/);
  refused({ nnodes: '2' }, { MASTER_ADDR: 'a b' }, /MASTER_ADDR in the environment is not one host name or address \(got "a b"\)/);
});

test('bad flags are refused with the same words', () => {
  refused({ nnodes: '0' }, BARE, /^--nnodes must be a whole number from 1 to 1024 \(got 0\)$/);
  refused({ nnodes: '1025' }, BARE, /^--nnodes must be a whole number from 1 to 1024 \(got 1025\)$/);
  refused({ nodeRank: 'first' }, BARE, /^--node-rank must be a plain decimal number such as 8, 0\.05 or 1e-3 \(got "first"\)$/);
  refused({ nprocPerNode: '65' }, BARE, /^--nproc-per-node must be a whole number from 1 to 64 \(got 65\)$/);
  refused({ masterPort: '0' }, BARE, /^--master-port must be a whole number from 1 to 65535 \(got 0\)$/);
  refused({ masterAddr: '' }, BARE, /^--master-addr is empty/);
});

test('a node rank not below the node count is refused naming both and where each came from', () => {
  refused({ ...TWO, nodeRank: '2' }, BARE, /^node rank 2 \(--node-rank 2\) must be below the node count 2 \(--nnodes 2\): node ranks run from 0 to 1$/);
  refused({ nprocPerNode: '2', masterAddr: 'm' }, { SLURM_NNODES: '2', SLURM_NODEID: '5' }, /node rank 5 \(SLURM_NODEID=5\) must be below the node count 2 \(SLURM_NNODES=2\)/);
  refused({ nodeRank: '1' }, BARE, /node rank 1 \(--node-rank 1\) must be below the node count 1 \(the default\)/);
});

test('--procs beside a node flag is refused naming both: --procs N means one machine', () => {
  refused({ procs: '4', nnodes: '2' }, BARE, /^--procs 4 and --nnodes cannot be combined: --procs N means one machine \(--nnodes 1 --nproc-per-node N\); across machines give --nproc-per-node/);
  refused({ procs: '4', nprocPerNode: '2', masterPort: '1' }, BARE, /--procs 4 and --nproc-per-node, --master-port cannot be combined/);
  assert.throws(() => parseTrainArgs(['--procs', '8', '--node-rank', '0'], BARE), (e: Error) => e instanceof UsageError && /--procs 8 and --node-rank cannot be combined/.test(e.message));
});

test('Slurm host lists expand as scontrol show hostnames does: ranges, lists, zero padding, several bracket groups', () => {
  assert.equal(expandHostlist('node[01-04,07]'), ['node01', 'node02', 'node03', 'node04', 'node07']);
  assert.equal(expandHostlist('a1,b[2-3]'), ['a1', 'b2', 'b3']);
  assert.equal(expandHostlist('rack[1-2]-n[01-02]'), ['rack1-n01', 'rack1-n02', 'rack2-n01', 'rack2-n02']);
  assert.equal(expandHostlist('n[08-11]'), ['n08', 'n09', 'n10', 'n11']);
  assert.equal(expandHostlist('n[001-3]'), ['n001', 'n002', 'n003']);
  assert.equal(expandHostlist('n[9-10]'), ['n9', 'n10']);
  assert.equal(expandHostlist('head'), ['head']);
  assert.equal(expandHostlist('head.cluster.local,gpu-7'), ['head.cluster.local', 'gpu-7']);
  assert.equal(expandHostlist('n[5]'), ['n5']);
  assert.equal(expandHostlist('x[1,3-4]y[7]'), ['x1y7', 'x3y7', 'x4y7']);
  assert.equal(expandHostlist('n[1-2]-ib'), ['n1-ib', 'n2-ib']);
  // Slurm's order for three groups or more: the last varies fastest, then the first, then the second.
  assert.equal(expandHostlist('a[1-2]b[3-4]c[5-6]'), ['a1b3c5', 'a1b3c6', 'a2b3c5', 'a2b3c6', 'a1b4c5', 'a1b4c6', 'a2b4c5', 'a2b4c6']);
  assert.is(expandHostlist('c[0000-1023]').length, 1024);
});

test('a malformed host list is refused saying what is wrong and where', () => {
  expansionRefuses('', /^the host list is empty$/);
  expansionRefuses('node[01-', /^"\[" never closed in "node\[01-"$/);
  expansionRefuses('node01]', /^"\]" without its "\[" at character 7 of "node01\]"$/);
  expansionRefuses('n[[1]]', /^"\[" inside brackets at character 3/);
  expansionRefuses('n[]', /^an empty range in "\[\]"/);
  expansionRefuses('n[1,,2]', /an empty range in "\[1,,2\]"/);
  expansionRefuses('n[5-3]', /^the range 5-3 in "\[5-3\]" of "n\[5-3\]" runs backwards$/);
  expansionRefuses('n[a-b]', /^"a-b" is not a number or a range such as 01-04/);
  expansionRefuses('n[1-2-3]', /"1-2-3" is not a number or a range/);
  expansionRefuses('a,,b', /^an empty host name at character 3 of "a,,b"$/);
  expansionRefuses(',a', /an empty host name at character 1/);
  expansionRefuses('a,', /an empty host name at character 3/);
  expansionRefuses('node 1', /^" " at character 5 of "node 1" is not part of a host name$/);
  expansionRefuses('n[1-2]/x', /"\/" at character 7/);
  expansionRefuses('n[1-99999999]', /names more than 1048576 hosts/);
  expansionRefuses('a[1-2000]b[1-2000]', /names more than 1048576 hosts/);
});

test('the expansion gives exactly what Slurm\'s own scontrol gives', () => {
  const { path, env } = realScontrol();
  for (const list of ['node[01-04,07]', 'a1,b[2-3]', 'rack[1-2]-n[01-02]', 'n[08-11]', 'n[001-3]', 'n[9-10]', 'head,gpu-7', 'x[1,3-4]y[7]', 'c[0000-0063]', 'a[1-2]-b[3-4]-c[5-6]', 'a[1-2]b[3-4]c[5-6]d[7-8]', 'a[1-3]b[4-5]c[6-7],z[1-2]']) {
    const slurm = execFileSync(path, ['show', 'hostnames', list], { env, encoding: 'utf8' }).trim().split('\n');
    assert.equal(expandHostlist(list), slurm, list);
  }
});

test('the first Slurm host comes from scontrol where it runs, else from the expansion', () => {
  const { path, env } = realScontrol();
  assert.equal(firstSlurmHost('gpu[07-08]', env), { host: 'gpu07', via: 'scontrol' });
  // No scontrol on PATH.
  assert.equal(firstSlurmHost('gpu[07-08]', BARE), { host: 'gpu07', via: 'expansion' });
  // scontrol there, but no Slurm configuration for it: it fails, and the expansion answers.
  assert.equal(firstSlurmHost('gpu[07-08]', { PATH: dirname(path) }), { host: 'gpu07', via: 'expansion' });
  // scontrol answers "gpu]" for a broken list: not a host name, so the expansion refuses the list.
  assert.throws(() => firstSlurmHost('gpu[07-', env), /"\[" never closed/);
  const layout = resolveNodeLayout({ nnodes: '2', nodeRank: '1' }, { ...env, SLURM_JOB_NODELIST: 'rack[3-4]-n[09-10]' })!;
  assert.equal([layout.masterAddr, layout.from.masterAddr], ['rack3-n09', 'SLURM_JOB_NODELIST']);
});

test('global ranks are node rank × nproc-per-node + local rank, and one line describes the layout', () => {
  const c = parseTrainArgs(['--nnodes', '2', '--node-rank', '1', '--nproc-per-node', '4', '--master-addr', '10.0.0.1'], BARE);
  assert.equal(globalRanksOf(c), [4, 5, 6, 7]);
  assert.is(describeNodeLayout(c), 'node 1 of 2 (ranks 4-7 of 8), master 10.0.0.1:29500');
  const first = parseTrainArgs(['--nnodes', '3', '--node-rank', '0', '--nproc-per-node', '2', '--master-addr', 'fd00::1', '--master-port', '6000'], BARE);
  assert.equal(globalRanksOf(first), [0, 1]);
  assert.is(describeNodeLayout(first), 'node 0 of 3 (ranks 0-1 of 6), master [fd00::1]:6000');
  const single = parseTrainArgs(['--nnodes', '2', '--node-rank', '1', '--master-addr', 'h'], BARE);
  assert.equal(globalRanksOf(single), [1]);
  assert.is(describeNodeLayout(single), 'node 1 of 2 (rank 1 of 2), master h:29500');
  const oneMachine = parseTrainArgs(['--procs', '4'], BARE);
  assert.equal(globalRanksOf(oneMachine), [0, 1, 2, 3]);
  assert.is(describeNodeLayout(oneMachine), 'node 0 of 1 (ranks 0-3 of 4)');
});

test('a multi-machine config survives the JSON trip to workers, and the schema holds the layout together', () => {
  const c = parseTrainArgs(['--nnodes', '16', '--node-rank', '15', '--nproc-per-node', '64', '--master-addr', 'h', '--join-token-file', 'join.token'], BARE);
  assert.is(c.procs, 1024, 'a world above 64 workers across machines');
  assert.equal(trainConfigSchema.parse(JSON.parse(JSON.stringify(c))), c);
  const bad = (raw: object, pattern: RegExp) => {
    const r = trainConfigSchema.safeParse(raw);
    assert.not.ok(r.success, JSON.stringify(raw));
    assert.match(r.error!.issues.map((i) => i.message).join('\n'), pattern);
  };
  bad({ ...c, procs: 8 }, /the world size \(procs 8\) must be --nnodes 16 × --nproc-per-node 64/);
  bad({ procs: 8, nnodes: 2 }, /--nnodes 2 needs --nproc-per-node/);
  bad({ procs: 65 }, /--procs must be a whole number from 1 to 64 \(got 65\)/);
  bad({ procs: 4, nprocPerNode: 2, nnodes: 2, nodeRank: 2 }, /--node-rank 2 must be below --nnodes 2/);
});

test.after(() => dir.remove());
test.run();

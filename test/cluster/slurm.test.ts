import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leftoversOf, SLURM_SCRIPT, slurmScript, withSlurmCluster, type SlurmCluster } from '../helpers/slurm.js';
import { runBounded, type Finished } from '../helpers/processes.js';
import { isAlive, waitUntil } from '../comm/fixtures/procs.js';

const test = suite('slurm: a real Slurm cluster, one slurmd per network namespace (scripts/slurm-cluster.sh)');
const TASK = fileURLToPath(new URL('./fixtures/slurm-task.js', import.meta.url));
/** torchrun's default master port; each namespace has its own ports, so clusters side by side do not clash. */
const MASTER_PORT = 29500;

/** Runs a Slurm client here against `cluster`, bounded in time. */
function client(cluster: SlurmCluster, command: string, args: string[], ms: number): Promise<Finished> {
  return runBounded(command, args, cluster.env, ms);
}

interface TaskSaw {
  hostname: string;
  addresses: string[];
  env: Record<string, string | undefined>;
  hostnames: string[];
  masterAddress: string;
  localAddress: string;
  remoteAddress: string;
  sentSha256: string;
  receivedSha256: string;
  receivedBytes: number;
  error?: string;
}

test('sbatch --nodes=2 runs one task per namespace with Slurm\'s environment; the first host resolves to node 0, and bytes cross between them over TCP', async () => {
  const work = mkdtempSync(join(tmpdir(), 'slurm-job-'));
  try {
    await withSlurmCluster(2, async (cluster) => {
      const [node0, node1] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
      // What deploy/slurm.sbatch will be: one program per node through srun.
      const job = join(work, 'job.sh');
      writeFileSync(job, `#!/bin/bash\nset -euo pipefail\nsrun --kill-on-bad-exit=1 ${process.execPath} ${TASK} ${work} ${MASTER_PORT}\n`, { mode: 0o755 });
      const started = Date.now();
      const sbatch = await client(cluster, 'sbatch', ['--nodes=2', '--ntasks-per-node=1', '--wait', '--time=2', `--output=${join(work, 'job-%j.out')}`, job], 150_000);
      console.log(`  job: ${((Date.now() - started) / 1000).toFixed(1)} s from sbatch to its end`);
      const jobOutput = readdirSync(work).filter((f) => f.startsWith('job-')).map((f) => readFileSync(join(work, f), 'utf8')).join('');
      const saw = [0, 1].map((rank) => {
        const file = join(work, `task-${rank}.json`);
        assert.ok(existsSync(file), `task ${rank} wrote nothing (sbatch exited ${sbatch.code}: ${sbatch.stderr}; job output:\n${jobOutput})`);
        return JSON.parse(readFileSync(file, 'utf8')) as TaskSaw;
      }) as [TaskSaw, TaskSaw];
      for (const task of saw) assert.is(task.error, undefined, `a task failed: ${task.error}\njob output:\n${jobOutput}`);
      assert.is(sbatch.code, 0, `sbatch --wait: ${sbatch.stdout}${sbatch.stderr}\njob output:\n${jobOutput}`);

      const nodeList = `${cluster.prefix}[0-1]`;
      for (const [rank, task] of saw.entries()) {
        assert.equal(task.env, { SLURM_NODEID: String(rank), SLURM_PROCID: String(rank), SLURM_NNODES: '2', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: nodeList }, `task ${rank}'s environment`);
        assert.equal(task.hostnames, [node0.name, node1.name], `task ${rank}: scontrol show hostnames ${nodeList}`);
        assert.is(task.masterAddress, node0.address, `task ${rank}: the first host (the launcher's MASTER_ADDR) resolves to node 0's namespace`);
        assert.is(task.hostname, cluster.nodes[rank]!.name, `task ${rank} runs on its own node`);
        assert.equal(task.addresses, [cluster.nodes[rank]!.address], `task ${rank} runs in its node's namespace, which has that one address`);
        assert.is(task.receivedBytes, 256 * 1024, `task ${rank} received the whole payload`);
      }
      // The connection ran from node 1's namespace to node 0's, and each side got exactly what the other sent.
      assert.is(saw[0].localAddress, node0.address);
      assert.is(saw[0].remoteAddress, node1.address);
      assert.is(saw[1].localAddress, node1.address);
      assert.is(saw[1].remoteAddress, node0.address);
      assert.is(saw[0].receivedSha256, saw[1].sentSha256, 'task 0 received task 1\'s bytes');
      assert.is(saw[1].receivedSha256, saw[0].sentSha256, 'task 1 received task 0\'s bytes');
      assert.is.not(saw[0].sentSha256, saw[1].sentSha256);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('when the body throws with a job still running, the cluster is removed all the same: daemons, job, namespaces, state; down again is harmless', async () => {
  const work = mkdtempSync(join(tmpdir(), 'slurm-job-'));
  let cluster: SlurmCluster | undefined;
  let jobPid = 0;
  try {
    await withSlurmCluster(2, async (c) => {
      cluster = c;
      const job = join(work, 'job.sh');
      writeFileSync(job, `#!/bin/bash\necho $$ > ${join(work, 'pid')}\nexec sleep 300\n`, { mode: 0o755 });
      const submitted = await client(c, 'sbatch', ['--nodes=2', `--output=${join(work, 'job.out')}`, job], 30_000);
      assert.is(submitted.code, 0, submitted.stderr);
      assert.ok(await waitUntil(() => existsSync(join(work, 'pid')) && readFileSync(join(work, 'pid'), 'utf8').endsWith('\n'), 30_000), 'the job started');
      jobPid = Number(readFileSync(join(work, 'pid'), 'utf8'));
      assert.ok(isAlive(jobPid), 'the job runs');
      throw new Error('the body failed on purpose');
    });
    assert.unreachable('withSlurmCluster should rethrow the body\'s error');
  } catch (e) {
    assert.is((e as Error).message, 'the body failed on purpose', 'the body\'s own error, unwrapped');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  assert.ok(cluster, 'the body ran');
  assert.equal(leftoversOf(cluster.prefix, cluster.daemonPids, cluster.stateDir), []);
  assert.is(cluster.daemonPids.length, 4, 'munged, slurmctld and two slurmds were checked');
  assert.not.ok(isAlive(jobPid), `the job's process (pid ${jobPid}) outlived down`);
  const status = await slurmScript(['status', cluster.prefix]);
  assert.is(status.code, 1, `status of a removed cluster exits 1: ${status.stdout}`);
  const again = await slurmScript(['down', cluster.prefix]);
  assert.is(again.code, 0, `down twice: ${again.stderr}`);
});

test('an up whose slurmd dies says why, with its output, and removes what it had made', async () => {
  const prefix = `sld${process.pid}x`;
  // A slurmd that fails at start, first on PATH; munged, slurmctld and the namespaces are real.
  const bin = mkdtempSync(join(tmpdir(), 'slurm-path-'));
  try {
    writeFileSync(join(bin, 'slurmd'), '#!/bin/sh\necho "slurmd: fatal: cannot start on purpose" >&2\nexit 1\n', { mode: 0o755 });
    const result = await slurmScript(['up', '2', prefix], 120_000, { PATH: `${bin}:${process.env.PATH}` });
    assert.is(result.code, 1, result.stdout);
    assert.match(result.stderr, /slurmd-sld\d+x[01] \(pid \d+\) died while the cluster came up/);
    assert.match(result.stderr, 'cannot start on purpose');
    assert.match(result.stderr, 'removing what it made');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  assert.equal(leftoversOf(prefix, []), [], 'namespaces, bridge and state directory made before slurmd died');
  // munged and slurmctld were started from the state directory, whose path is in their command lines.
  const survivors = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`/slurm-cluster/${prefix}/`));
  assert.equal(survivors, [], 'daemons of the failed up');
});

test('without root, or without slurm-wlm and munge, up fails saying what is missing and how to get it', async () => {
  const noRoot = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', SLURM_SCRIPT, 'up', '2', 'sltnoroot'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(noRoot.status, 1, `as nobody: ${noRoot.stdout}${noRoot.stderr}`);
  assert.match(noRoot.stderr, 'needs root');

  // A PATH with everything the script uses except Slurm's and munge's programs.
  const bin = mkdtempSync(join(tmpdir(), 'slurm-path-'));
  try {
    for (const tool of ['bash', 'id', 'awk', 'grep', 'sed', 'sort', 'seq', 'cut', 'tr', 'sleep', 'nsenter', 'unshare', 'setsid', 'ss', 'ip', 'tc', 'flock', 'dirname']) {
      symlinkSync(execFileSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    }
    const result = await slurmScript(['up', '2', 'sltnoslurm'], 30_000, { PATH: bin });
    assert.is(result.code, 1, result.stdout);
    assert.match(result.stderr, 'missing munged slurmctld slurmd sinfo scontrol scancel');
    assert.match(result.stderr, 'apt-get install -y slurm-wlm munge');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  assert.equal(leftoversOf('sltnoroot', []), []);
  assert.equal(leftoversOf('sltnoslurm', []), []);
});

test.run();

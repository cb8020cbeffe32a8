// The project's own deploy/slurm.sbatch, submitted unchanged to a real Slurm cluster on this machine
// (scripts/slurm-cluster.sh: one slurmd per network namespace): one train.js launcher per namespace,
// joined over real TCP across the bridge, must train exactly what one machine with as many workers
// trains. Needs root and slurm-wlm/munge; withSlurmCluster fails saying so where they are missing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertBitwiseEqual } from '../helpers/assert.js';
import { summaryOf, writeToken } from '../helpers/machines.js';
import { runBounded, runTrain } from '../helpers/processes.js';
import { withSlurmCluster } from '../helpers/slurm.js';
import { readWeights, SMALL_TASK, tempDir } from '../helpers/train-run.js';

const test = suite('deploy/slurm.sbatch under a real Slurm: one launcher per node, 2 nodes × 2 workers = 1 machine × 4');
/** The repository's root, from dist/test/cluster/: where a user submits from, and where dist/ is. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SBATCH = `${ROOT}deploy/slurm.sbatch`;
const FLAGS = [...SMALL_TASK, '--no-shuffle', '--max-steps', '24', '--seed', '3', '--local-sgd-steps', '4'];

/** Whatever the job has logged in the working directory (sbatch's --output=localsgd-%j.out). */
function jobLogs(path: string): string {
  return readdirSync(path).filter((f) => /^localsgd-\d+\.out$/.test(f)).map((f) => readFileSync(join(path, f), 'utf8')).join('') || '(none)';
}

test('sbatch deploy/slurm.sbatch trains across two namespaces over TCP and saves the weights of --procs 4, bit for bit', async () => {
  const dir = tempDir();
  try {
    // The job runs as root here; the token is the file a user makes with openssl rand -hex 32, mode 0600.
    writeToken(dir.file('join.token'));
    const reference = dir.file('one-machine.safetensors');
    const one = await runTrain([...FLAGS, '--procs', '4', '--save', reference]);
    assert.is(one.code, 0, `1 × 4 failed:\n${one.stderr}`);

    await withSlurmCluster(2, async (cluster) => {
      const [node0, node1] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
      const started = Date.now();
      // Submitted from the repository's root, as its comment says, with the job's working directory
      // elsewhere (--chdir): the script must find dist/ through SLURM_SUBMIT_DIR, and the relative
      // paths (join.token, --save, --metrics, the log) must land in the working directory. A stale
      // NODE_RANK and MASTER_ADDR from the submitting shell must not decide the nodes' ranks or master.
      // --rendezvous-timeout 20: a node that never joins (or joins with the other's rank) fails the
      // job with the master's own message, well within this test's bound.
      const sbatch = await runBounded('sbatch', [
        '--wait', '--time=2', `--chdir=${dir.path}`, SBATCH, ...FLAGS, '--rendezvous-timeout', '20', '--save', 'model.safetensors', '--metrics', 'run.jsonl',
      ], { ...cluster.env, NPROC_PER_NODE: '2', NODE_RANK: '0', MASTER_ADDR: '127.0.0.1' }, 75_000, 'sbatch --wait deploy/slurm.sbatch', ROOT)
        .catch((error: Error) => {
          throw new Error(`${error.message}; the job's log so far:\n${jobLogs(dir.path)}`);
        });
      console.log(`  job: ${((Date.now() - started) / 1000).toFixed(1)} s from sbatch to its end`);
      const jobId = /Submitted batch job (\d+)/.exec(sbatch.stdout)?.[1];
      assert.ok(jobId, `sbatch submitted no job (exit ${sbatch.code}):\n${sbatch.stdout}${sbatch.stderr}`);
      const logFile = dir.file(`localsgd-${jobId}.out`);
      assert.ok(existsSync(logFile), `the job's log ${logFile} (sbatch's --output, in the working directory) is missing; there: ${readdirSync(dir.path).join(', ')}`);
      const log = readFileSync(logFile, 'utf8');
      assert.is(sbatch.code, 0, `the job failed (sbatch --wait exited ${sbatch.code}: ${sbatch.stderr}); its log:\n${log}`);

      // One launcher per namespace: the master saw node 0 and node 1 join, each from its own host and address.
      assert.match(log, `master ${node0.name}:29500`, 'the batch script names the first host as the master');
      const joined = (node: number) => new RegExp(`^node ${node} \\((\\S+), host (\\S+)\\) joined: 2 workers`, 'm').exec(log);
      const [j0, j1] = [joined(0), joined(1)];
      assert.ok(j0 && j1, `the master's "node N (...) joined" lines for nodes 0 and 1; the log:\n${log}`);
      assert.is(j0[2], node0.name, 'node 0\'s launcher runs on the first node');
      assert.is(j1[2], node1.name, 'node 1\'s launcher runs on the second node');
      assert.is(j0[1], node0.address, 'node 0 joined from its own namespace\'s address');
      assert.is(j1[1], node1.address, 'node 1 joined from its own namespace\'s address, across the bridge');
      assert.is.not(j0[1], j1[1], 'the two launchers joined from different addresses');
      assert.match(log, 'all 2 nodes joined: 4 workers');

      // Each node wrote its own metrics (node 1's with .node1 appended), and tensors crossed the link.
      const metrics = [dir.file('run.jsonl'), dir.file('run.jsonl.node1')];
      const machines = metrics.map((file, node) => {
        assert.ok(existsSync(file), `node ${node}'s --metrics ${file} is missing; the log:\n${log}`);
        return summaryOf(readFileSync(file, 'utf8')).machine as { nodeRank: number; linkBytesSent: number; linkBytesReceived: number; finalParametersSha256: string };
      });
      machines.forEach((m, node) => assert.is(m.nodeRank, node, `${metrics[node]} is node ${node}'s`));
      // One vector of the 421 parameters each way per round, 6 rounds: well over a kilobyte each way.
      assert.ok(machines[1]!.linkBytesSent > 1024 && machines[1]!.linkBytesReceived > 1024, `node 1's link: ${JSON.stringify(machines[1])}`);
      assert.is(machines[1]!.finalParametersSha256, machines[0]!.finalParametersSha256, 'both nodes end with the same last average');

      const a = readWeights(reference);
      const b = readWeights(dir.file('model.safetensors'));
      assert.equal([...b.byName.keys()], [...a.byName.keys()]);
      assertBitwiseEqual(b.all, a.all, 'Slurm 2 × 2 vs --procs 4 final weights');
      assert.equal(readdirSync(dir.path).filter((f) => f.startsWith('model')), ['model.safetensors'], 'only node 0 saved, once');
    });
  } finally {
    dir.remove();
  }
});

test('submitted from outside the repository, the job stops at once saying where it looked for dist/train.js and what to do', async () => {
  const dir = tempDir();
  try {
    await withSlurmCluster(2, async (cluster) => {
      // From the working directory itself: SLURM_SUBMIT_DIR has no dist/.
      const sbatch = await runBounded('sbatch', ['--wait', '--time=1', SBATCH, ...FLAGS], cluster.env, 60_000, 'sbatch --wait deploy/slurm.sbatch', dir.path);
      const log = jobLogs(dir.path);
      assert.is.not(sbatch.code, 0, `the job should fail; its log:\n${log}`);
      assert.match(log, `localsgd: ${dir.path}/dist/train.js not found: submit from the repository's root after \`node build.mjs\`, or set LOCALSGD_DIR`);
      assert.not.match(log, 'srun', 'no task was started');
    });
  } finally {
    dir.remove();
  }
});

test.run();

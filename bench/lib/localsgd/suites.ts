// The benchmark's configurations: simulated links, training modes (sync, Local SGD at each K, and
// what goes beyond Accelerate), and the groups of runs each suite makes of them, full and quick.
import { TEST_SIGKILL_ENV } from '../../../src/train/debug-hooks.js';

export interface Link { name: string; bandwidth: string; latency: string }
export interface Mode {
  name: string;
  label: string;
  localSgdSteps: number | null;
  /** More train.js flags that make this mode (warmup, comm dtype, outer optimizer). */
  args?: string[];
  /** Environment for train.js: LOCALSGD_TEST_SIGKILL kills a worker at a fixed step, the same in every repeat. */
  env?: Record<string, string>;
}

// Latency: 0.5 ms is a loaded datacentre or campus round trip's one-way share; 2 ms a slower
// shared network where 100 Mbit/s is typical.
export const LINKS: Link[] = [
  { name: 'none', bandwidth: 'off', latency: '0' },
  { name: '10gbit', bandwidth: '10gbit', latency: '0.5ms' },
  { name: '1gbit', bandwidth: '1gbit', latency: '0.5ms' },
  { name: '100mbit', bandwidth: '100mbit', latency: '2ms' },
];
const DILOCO_OUTER = ['--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9'];
export const MODES: Mode[] = [
  { name: 'sync', label: 'sync', localSgdSteps: null },
  ...[2, 4, 8, 16, 32, 50].map((k) => ({ name: `k${k}`, label: `K=${k}`, localSgdSteps: k })),
  { name: 'k8-warmup', label: 'K=8, 32 sync warmup steps', localSgdSteps: 8, args: ['--local-sgd-warmup-steps', '32'] },
  { name: 'k8-f16', label: 'K=8, f16 averaging', localSgdSteps: 8, args: ['--comm-dtype', 'f16'] },
  { name: 'k8-bf16', label: 'K=8, bf16 averaging', localSgdSteps: 8, args: ['--comm-dtype', 'bf16'] },
  // Rank 2 SIGKILLs itself before step 60 (between the rounds at 56 and 64).
  { name: 'k8-lost-continue', label: 'K=8, rank 2 lost at step 60, continue', localSgdSteps: 8, args: ['--on-worker-failure', 'continue'], env: { [TEST_SIGKILL_ENV]: '2:60' } },
  { name: 'k8-lost-respawn', label: 'K=8, rank 2 lost at step 60, respawn', localSgdSteps: 8, args: ['--on-worker-failure', 'respawn'], env: { [TEST_SIGKILL_ENV]: '2:60' } },
  { name: 'k50-diloco', label: 'K=50, DiLoCo Nesterov outer', localSgdSteps: 50, args: DILOCO_OUTER },
  { name: 'k50-diloco-f16', label: 'K=50, DiLoCo, f16', localSgdSteps: 50, args: [...DILOCO_OUTER, '--comm-dtype', 'f16'] },
  // The quick suite's small versions of the same.
  { name: 'k4-warmup', label: 'K=4, 4 sync warmup steps', localSgdSteps: 4, args: ['--local-sgd-warmup-steps', '4'] },
  { name: 'k4-f16', label: 'K=4, f16 averaging', localSgdSteps: 4, args: ['--comm-dtype', 'f16'] },
  { name: 'k4-diloco', label: 'K=4, DiLoCo', localSgdSteps: 4, args: DILOCO_OUTER },
];

export interface Group {
  name: string;
  title: string;
  /** Data, model and length, the same for every mode. */
  args: string[];
  modes: string[];
  /** The mode every other is compared with (Δ accuracy, time and byte ratios). */
  baseline: string;
  links: string[];
  evalEvery: number;
  target: number;
}

// 192 steps ≈ 3 epochs of each worker's 2,000 MNIST samples at batch 32, and a multiple of every
// K and of --eval-every, so every run ends on an averaging point that is also an evaluation point.
const FULL: Group[] = [
  {
    name: 'mnist', title: 'MNIST 784-256-10', evalEvery: 8, target: 0.9,
    args: ['--data', 'mnist', '--hidden', '256', '--batch-size', '32', '--max-steps', '192', '--log-every', '8'],
    modes: ['sync', 'k2', 'k4', 'k8', 'k16', 'k32'], baseline: 'sync', links: LINKS.map((l) => l.name),
  },
  {
    name: 'large', title: 'synthetic 256-2048-2048-10', evalEvery: 16, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '8192', '--synthetic-features', '256', '--hidden', '2048,2048',
      '--batch-size', '32', '--max-steps', '64', '--log-every', '8'],
    modes: ['sync', 'k8'], baseline: 'sync', links: ['none'],
  },
];
const QUICK: Group[] = [
  {
    name: 'mnist', title: 'quick: synthetic 20-16-5', evalEvery: 4, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '16', '--batch-size', '16', '--max-steps', '16', '--log-every', '4'],
    modes: ['sync', 'k4'], baseline: 'sync', links: ['1gbit'],
  },
  {
    name: 'large', title: 'quick: synthetic 20-64-64-5', evalEvery: 8, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '64,64', '--batch-size', '16', '--max-steps', '8', '--log-every', '4'],
    modes: ['sync', 'k4'], baseline: 'sync', links: ['none'],
  },
];

// Beyond Accelerate, at the simulated 1 Gbit/s link: each idea against plain Local SGD at the same
// K. DiLoCo's usual setting is AdamW inside, Nesterov outside (lr 0.7, momentum 0.9), K large.
const BEYOND_FULL: Group[] = [
  {
    name: 'beyond-mnist', title: 'MNIST 784-256-10: warmup and half-precision averaging', evalEvery: 8, target: 0.9,
    args: ['--data', 'mnist', '--hidden', '256', '--batch-size', '32', '--max-steps', '192', '--log-every', '8'],
    modes: ['sync', 'k8', 'k8-warmup', 'k8-f16', 'k8-bf16', 'k8-lost-continue', 'k8-lost-respawn'], baseline: 'k8', links: ['1gbit'],
  },
  {
    // 3 epochs of 20,000 samples over 4 workers: 468 steps, 9 rounds at K = 50, a multiple of --eval-every.
    name: 'diloco', title: 'synthetic 256-256-10, AdamW inner: DiLoCo outer optimizer', evalEvery: 50, target: 0.6,
    args: ['--data', 'synthetic', '--synthetic-samples', '20000', '--hidden', '256',
      '--optimizer', 'adamw', '--lr', '0.001', '--batch-size', '32', '--max-steps', '450', '--log-every', '25'],
    modes: ['k50', 'k50-diloco', 'k50-diloco-f16'], baseline: 'k50', links: ['1gbit'],
  },
];
const BEYOND_QUICK: Group[] = [
  {
    name: 'beyond-mnist', title: 'quick: synthetic 20-16-5', evalEvery: 4, target: 0.5,
    args: ['--data', 'synthetic', '--synthetic-samples', '1024', '--synthetic-features', '20', '--synthetic-classes', '5',
      '--hidden', '16', '--batch-size', '16', '--max-steps', '16', '--log-every', '4'],
    modes: ['k4', 'k4-warmup', 'k4-f16', 'k4-diloco'], baseline: 'k4', links: ['1gbit'],
  },
];

export const SUITES = {
  accelerate: { file: 'localsgd', title: 'Local SGD against synchronous data-parallel training', full: FULL, quick: QUICK },
  beyond: { file: 'localsgd-beyond', title: 'Beyond Accelerate: post-local SGD, compressed averaging, DiLoCo', full: BEYOND_FULL, quick: BEYOND_QUICK },
} as const;
export type SuiteName = keyof typeof SUITES;

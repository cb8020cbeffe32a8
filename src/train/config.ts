// The run's configuration: one zod schema with every setting's default and the rules that tie
// settings together. The training code owns it; cli/config.ts only maps flags onto it, and workers
// re-validate it on arrival.
import { z } from 'zod';
import { CommDtype } from '../comm/delta-codec.js';
import { isPlainAveraging, type OuterOptimizerOptions } from '../comm/outer-optimizer.js';
import { DEFAULT_MODEL, modelConfigSchema, modelTrainingDefaults } from '../nn/model.js';

/** A number written as users write decimals: digits, a point, an exponent; not '', hex, 'Infinity' or '1_000'. */
const PLAIN_DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Flags arrive as strings and a config re-validated in a worker as JSON numbers: both become a number. */
const decimal = (flag: string) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    if (typeof v === 'number') return v;
    if (!PLAIN_DECIMAL.test(v)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${flag} must be a plain decimal number such as 8, 0.05 or 1e-3 (got "${v}")` });
      return z.NEVER;
    }
    return Number(v);
  });

export const wholeNumber = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  decimal(flag).refine((n) => Number.isInteger(n) && n >= min && n <= max, (n) => ({
    message: `${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'} (got ${n})`,
  }));

const positiveNumber = (flag: string, allowZero = false) =>
  decimal(flag).refine((n) => Number.isFinite(n) && (allowZero ? n >= 0 : n > 0), (n) => ({
    message: `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${n})`,
  }));

const atLeast = (flag: string, min: number, unit: string) =>
  decimal(flag).refine((n) => Number.isFinite(n) && n >= min, (n) => ({ message: `${flag} must be at least ${min} ${unit} (got ${n})` }));

const fraction = (flag: string) =>
  decimal(flag).refine((n) => Number.isFinite(n) && n >= 0 && n < 1, (n) => ({ message: `${flag} must be in [0, 1) (got ${n})` }));

/** A path or name: given, it is not empty (`--save ''` is not "don't save"). */
const nonEmpty = (flag: string) => z.string().min(1, { message: `${flag} needs a non-empty value; leave the flag out for its default` });

/** torchrun's bounds are looser; these keep a mistyped value from meaning thousands of processes. */
export const MAX_PROCS_PER_NODE = 64;
export const MAX_NNODES = 1024;
export const DEFAULT_MASTER_PORT = 29500;

const procsMessage = (n: unknown) => `--procs must be a whole number from 1 to ${MAX_PROCS_PER_NODE} (got ${String(n)})`;

/**
 * Below this the watchdog would call a worker lost while it compiles shaders or takes one slow step
 * (a fresh machine compiles for seconds before the first round).
 */
export const MIN_WORKER_TIMEOUT_SECONDS = 5;

const settingsSchema = z.object({
  // The world size: every worker of every machine. On one machine `--procs N` (1 to 64); across
  // machines cli/node-layout.ts sets it to nnodes × nprocPerNode, which may pass 64.
  procs: decimal('--procs').refine((n) => Number.isInteger(n) && n >= 1 && n <= MAX_PROCS_PER_NODE * MAX_NNODES, (n) => ({ message: procsMessage(n) })).default(4),
  // Where this launcher sits in a multi-machine run (torchrun's names). nprocPerNode is absent on one
  // machine, where it equals procs: read it with procsPerNode().
  nnodes: wholeNumber('--nnodes', 1, MAX_NNODES).default(1),
  nodeRank: wholeNumber('--node-rank', 0, MAX_NNODES - 1).default(0),
  nprocPerNode: wholeNumber('--nproc-per-node', 1, MAX_PROCS_PER_NODE).optional(),
  masterAddr: nonEmpty('--master-addr').optional(),
  masterPort: wholeNumber('--master-port', 1, 65535).default(DEFAULT_MASTER_PORT),
  rendezvousTimeout: positiveNumber('--rendezvous-timeout').default(300),
  crossNodeEvery: wholeNumber('--cross-node-every', 1).default(1),
  joinTokenFile: nonEmpty('--join-token-file').optional(),
  insecure: z.boolean().default(false),
  tlsCert: nonEmpty('--tls-cert').optional(),
  tlsKey: nonEmpty('--tls-key').optional(),
  tlsCa: nonEmpty('--tls-ca').optional(),
  localSgd: z.boolean().default(true),
  localSgdSteps: wholeNumber('--local-sgd-steps', 1).default(8),
  localSgdWarmupSteps: wholeNumber('--local-sgd-warmup-steps', 0).default(0),
  outerOptimizer: z.enum(['sgd', 'nesterov']).default('sgd'),
  outerLr: positiveNumber('--outer-lr').default(1),
  outerMomentum: fraction('--outer-momentum').default(0),
  data: nonEmpty('--data').default('mnist'),
  evalData: nonEmpty('--eval-data').optional(),
  // --model gpt: the bytes of a text (or any) file, split 90/10 unless --val-text gives the validation
  // text; without --text the Brown corpus.
  text: nonEmpty('--text').optional(),
  valText: nonEmpty('--val-text').optional(),
  valWindows: wholeNumber('--val-windows', 1).optional(),
  syntheticSamples: wholeNumber('--synthetic-samples', 1).default(20000),
  syntheticFeatures: wholeNumber('--synthetic-features', 1).default(256),
  syntheticClasses: wholeNumber('--synthetic-classes', 2).default(10),
  classes: wholeNumber('--classes', 2, 1 << 20).optional(),
  epochs: wholeNumber('--epochs', 1).default(3),
  maxSteps: wholeNumber('--max-steps', 1).optional(),
  batchSize: wholeNumber('--batch-size', 1).default(32),
  gradAccum: wholeNumber('--grad-accum', 1).default(1),
  lr: positiveNumber('--lr').default(0.05),
  minLr: positiveNumber('--min-lr', true).default(0),
  optimizer: z.enum(['sgd', 'adamw']).default('sgd'),
  momentum: fraction('--momentum').default(0.9),
  nesterov: z.boolean().default(false),
  weightDecay: positiveNumber('--weight-decay', true).default(0),
  beta1: fraction('--beta1').default(0.9),
  beta2: fraction('--beta2').default(0.999),
  eps: positiveNumber('--eps').default(1e-8),
  schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
  warmupSteps: wholeNumber('--warmup-steps', 0).default(0),
  gradClip: positiveNumber('--grad-clip', true).default(0),
  // Lazy: a model registered after this module loads (a test's) is still a valid choice.
  model: z.lazy(() => modelConfigSchema()).default({ kind: DEFAULT_MODEL }),
  seed: wholeNumber('--seed', 0, 2 ** 32 - 1).default(0),
  shuffle: z.boolean().default(true),
  logEvery: wholeNumber('--log-every', 1).default(50),
  evalBatchSize: wholeNumber('--eval-batch-size', 1).default(500),
  evalEvery: wholeNumber('--eval-every', 1).optional(),
  metrics: nonEmpty('--metrics').optional(),
  save: nonEmpty('--save').optional(),
  saveEvery: wholeNumber('--save-every', 1).optional(),
  checkpointEvery: wholeNumber('--checkpoint-every', 1).optional(),
  init: nonEmpty('--init').optional(),
  resume: nonEmpty('--resume').optional(),
  adapter: nonEmpty('--adapter').optional(),
  backend: nonEmpty('--backend').optional(),
  commDtype: CommDtype.default('f32'),
  linkBandwidth: z.string().default('off'),
  linkLatency: z.string().default('0'),
  workerTimeout: atLeast('--worker-timeout', MIN_WORKER_TIMEOUT_SECONDS, 'seconds').default(120),
  // Of the world size (procs), how many are browser tabs that join over the master's web server
  // (ranks procs − browserWorkers …); the rest are worker processes. See src/tabs/.
  browserWorkers: wholeNumber('--browser-workers', 0, MAX_PROCS_PER_NODE).default(0),
  browserHost: nonEmpty('--browser-host').default('127.0.0.1'),
  browserPort: wholeNumber('--browser-port', 0, 65535).default(0),
  onWorkerFailure: z.enum(['abort', 'continue', 'respawn']).default('abort'),
  maxRespawns: wholeNumber('--max-respawns', 0, 1000).default(3),
  // Kernel variants chosen by measurement on this adapter (src/kernels/autotune.ts); off: the fixed table.
  autotune: z.boolean().default(true),
  quiet: z.boolean().default(false),
  verbose: z.boolean().default(false),
}).superRefine((c, ctx) => {
  // Combinations that would silently do nothing are errors.
  const reject = (key: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message });
  if (c.nprocPerNode === undefined) {
    if (c.procs > MAX_PROCS_PER_NODE) reject('procs', procsMessage(c.procs));
    if (c.nnodes > 1) reject('nprocPerNode', `--nnodes ${c.nnodes} needs --nproc-per-node: the workers on each machine`);
  } else if (c.procs !== c.nnodes * c.nprocPerNode) {
    reject('procs', `the world size (procs ${c.procs}) must be --nnodes ${c.nnodes} × --nproc-per-node ${c.nprocPerNode}`);
  }
  if (c.nodeRank >= c.nnodes) {
    reject('nodeRank', `--node-rank ${c.nodeRank} must be below --nnodes ${c.nnodes} (node ranks run from 0 to ${c.nnodes - 1})`);
  }
  // On one machine the link settings are unused (the CLI refuses them as such, which says more).
  const tls = { '--tls-cert': c.tlsCert, '--tls-key': c.tlsKey, '--tls-ca': c.tlsCa };
  const tlsGiven = Object.keys(tls).filter((f) => tls[f as keyof typeof tls] !== undefined);
  if (c.nnodes > 1 && tlsGiven.length > 0 && tlsGiven.length < 3) {
    const missing = Object.keys(tls).filter((f) => !tlsGiven.includes(f));
    reject('tlsCert', `--tls-cert, --tls-key and --tls-ca go together (this machine's certificate, its key, and the CA that signed every machine's): ${tlsGiven.join(' and ')} given, ${missing.join(' and ')} missing`);
  }
  if (c.nnodes > 1 && c.insecure && c.joinTokenFile !== undefined) {
    reject('insecure', `--insecure (no join secret) and --join-token-file ${c.joinTokenFile} (this join secret) contradict each other: give one`);
  }
  if (c.onWorkerFailure === 'respawn' && c.nnodes > 1) {
    reject('onWorkerFailure', `--on-worker-failure respawn is for one machine (--nnodes ${c.nnodes} here): across machines use abort or continue`);
  }
  if (!c.localSgd && c.localSgdWarmupSteps > 0) {
    reject('localSgdWarmupSteps', `--local-sgd-warmup-steps ${c.localSgdWarmupSteps} needs Local SGD: drop --no-local-sgd (synchronous mode averages gradients every step anyway)`);
  }
  if (!isPlainAveraging(outerSettings(c)) && (!c.localSgd || c.procs === 1)) {
    reject('outerOptimizer', `--outer-optimizer, --outer-lr and --outer-momentum act at parameter averaging rounds, which need --procs 2 or more and Local SGD (got --procs ${c.procs}${c.localSgd ? '' : ' --no-local-sgd'})`);
  }
  if (c.checkpointEvery !== undefined && (!c.save || c.procs === 1 || !c.localSgd)) {
    reject('checkpointEvery', `--checkpoint-every counts parameter averaging rounds of a multi-process Local SGD run and writes to --save FILE: it needs --save, --procs 2 or more and Local SGD${c.procs === 1 ? '; with --procs 1 use --save-every N' : ''}`);
  }
  if (c.checkpointEvery !== undefined && c.saveEvery !== undefined) {
    reject('checkpointEvery', '--checkpoint-every and --save-every would both write the --save file; in a multi-process run keep --checkpoint-every (averaged weights at rounds), drop --save-every');
  }
  if (c.resume !== undefined && c.init !== undefined) {
    reject('resume', `--resume ${c.resume} and --init ${c.init} both say where to start: --resume continues a run (weights, optimizer state, step), --init starts a new run from weights only; give one`);
  }
  if (c.browserWorkers > 0) {
    const why = browserWorkersUnsupported(c);
    if (why) reject('browserWorkers', `--browser-workers ${c.browserWorkers}: ${why}`);
  }
  if (c.minLr > c.lr) {
    reject('minLr', `--min-lr ${c.minLr} is above --lr ${c.lr}: the schedule decays from --lr down to --min-lr; lower --min-lr (nanoGPT uses lr/10)`);
  }
  if (c.outerOptimizer === 'nesterov' && c.outerMomentum === 0) {
    reject('outerMomentum', '--outer-optimizer nesterov needs --outer-momentum above 0 (DiLoCo uses 0.9), as PyTorch\'s SGD(nesterov=True) does');
  }
});

/**
 * The run's config. A model may default some training settings its own way (the GPT: nanoGPT's
 * recipe); those fill what the run leaves out, before the general defaults.
 */
export const trainConfigSchema = z.preprocess((raw) => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const given = raw as Record<string, unknown>;
  const defaults = Object.entries(modelTrainingDefaults(given)).filter(([k, v]) => given[k] === undefined && v !== undefined);
  return defaults.length === 0 ? raw : { ...Object.fromEntries(defaults), ...given };
}, settingsSchema);

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** What browser workers cannot do yet, or undefined if this run's settings suit them. */
function browserWorkersUnsupported(c: { nnodes: number; model: { kind: string }; resume?: string | undefined; init?: string | undefined; save?: string | undefined; procs: number; browserWorkers: number }): string | undefined {
  if (c.nnodes > 1) return `browser tabs join a run on one machine; drop --nnodes ${c.nnodes}`;
  if (c.model.kind !== 'mlp') return `tabs train the MLP only for now (this run is --model ${c.model.kind})`;
  if (c.resume !== undefined || c.init !== undefined) return 'tabs cannot read --resume or --init files yet; start the run without them';
  if (c.save !== undefined && c.procs === c.browserWorkers) return 'rank 0 writes --save, and with --procs 0 it is a tab, which has no files; give --procs 1 or more';
  return undefined;
}

/** The workers this machine runs: --nproc-per-node across machines, --procs on one. */
export function procsPerNode(c: Pick<TrainConfig, 'procs' | 'nprocPerNode'>): number {
  return c.nprocPerNode ?? c.procs;
}

/** The outer optimizer's settings in a config. */
export function outerSettings(c: Pick<TrainConfig, 'outerOptimizer' | 'outerLr' | 'outerMomentum'>): OuterOptimizerOptions {
  return { kind: c.outerOptimizer, lr: c.outerLr, momentum: c.outerMomentum };
}

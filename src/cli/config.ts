// Every flag of train.js: one zod schema, defaults, help text. The CLI entry only parses argv into
// this config and calls run().
import { z } from 'zod';
import { CommDtype } from '../dist/codec.js';
import { isPlainAveraging, type OuterOptimizerOptions } from '../dist/outer-optimizer.js';

const wholeNumber = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ invalid_type_error: `${flag} must be a whole number` })
    .refine((n) => Number.isInteger(n) && n >= min && n <= max, (n) => ({
      message: `${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'} (got ${n})`,
    }));

const positiveNumber = (flag: string, allowZero = false) =>
  z.coerce.number().refine((n) => Number.isFinite(n) && (allowZero ? n >= 0 : n > 0), (n) => ({
    message: `${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${n})`,
  }));

const fraction = (flag: string) =>
  z.coerce.number().refine((n) => Number.isFinite(n) && n >= 0 && n < 1, (n) => ({ message: `${flag} must be in [0, 1) (got ${n})` }));

// Accepts the parsed form too (an array), so a config can travel to workers as JSON and be re-validated.
const hiddenList = z.preprocess((v) => (Array.isArray(v) ? v.join(',') : v), z.string()).transform((s, ctx) => {
  if (s.trim() === '' || s === 'none') return [] as number[];
  const parts = s.split(',').map((p) => Number(p.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 1 || n > 65536)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `--hidden must be comma-separated layer widths from 1 to 65536, e.g. 256,128 (got "${s}")` });
    return z.NEVER;
  }
  return parts;
});

export const trainConfigSchema = z.object({
  procs: wholeNumber('--procs', 1, 64).default(4),
  localSgd: z.boolean().default(true),
  localSgdSteps: wholeNumber('--local-sgd-steps', 1).default(8),
  localSgdWarmupSteps: wholeNumber('--local-sgd-warmup-steps', 0).default(0),
  outerOptimizer: z.enum(['sgd', 'nesterov']).default('sgd'),
  outerLr: positiveNumber('--outer-lr').default(1),
  outerMomentum: fraction('--outer-momentum').default(0),
  data: z.string().default('mnist'),
  evalData: z.string().optional(),
  syntheticSamples: wholeNumber('--synthetic-samples', 1).default(20000),
  syntheticFeatures: wholeNumber('--synthetic-features', 1).default(256),
  syntheticClasses: wholeNumber('--synthetic-classes', 2).default(10),
  epochs: wholeNumber('--epochs', 1).default(3),
  maxSteps: wholeNumber('--max-steps', 1).optional(),
  batchSize: wholeNumber('--batch-size', 1).default(32),
  gradAccum: wholeNumber('--grad-accum', 1).default(1),
  lr: positiveNumber('--lr').default(0.05),
  optimizer: z.enum(['sgd', 'adamw']).default('sgd'),
  momentum: fraction('--momentum').default(0.9),
  nesterov: z.boolean().default(false),
  weightDecay: positiveNumber('--weight-decay', true).default(0),
  beta1: fraction('--beta1').default(0.9),
  beta2: fraction('--beta2').default(0.999),
  eps: positiveNumber('--eps').default(1e-8),
  schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
  warmupSteps: wholeNumber('--warmup-steps', 0).default(0),
  hidden: hiddenList.default('256'),
  activation: z.enum(['relu', 'gelu']).default('relu'),
  seed: wholeNumber('--seed', 0, 2 ** 32 - 1).default(0),
  shuffle: z.boolean().default(true),
  logEvery: wholeNumber('--log-every', 1).default(50),
  evalBatchSize: wholeNumber('--eval-batch-size', 1).default(500),
  evalEvery: wholeNumber('--eval-every', 1).optional(),
  metrics: z.string().optional(),
  save: z.string().optional(),
  saveEvery: wholeNumber('--save-every', 1).optional(),
  checkpointEvery: wholeNumber('--checkpoint-every', 1).optional(),
  init: z.string().optional(),
  resume: z.string().optional(),
  adapter: z.string().optional(),
  backend: z.string().optional(),
  commDtype: CommDtype.default('f32'),
  linkBandwidth: z.string().default('off'),
  linkLatency: z.string().default('0'),
  workerTimeout: positiveNumber('--worker-timeout').default(120),
  onWorkerFailure: z.enum(['abort', 'continue', 'respawn']).default('abort'),
  maxRespawns: wholeNumber('--max-respawns', 0, 1000).default(3),
  quiet: z.boolean().default(false),
}).superRefine((c, ctx) => {
  // Combinations that would silently do nothing are errors.
  const reject = (key: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message });
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
  if (c.outerOptimizer === 'nesterov' && c.outerMomentum === 0) {
    reject('outerMomentum', '--outer-optimizer nesterov needs --outer-momentum above 0 (DiLoCo uses 0.9), as PyTorch\'s SGD(nesterov=True) does');
  }
});

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** The outer optimizer's settings in a config. */
export function outerSettings(c: Pick<TrainConfig, 'outerOptimizer' | 'outerLr' | 'outerMomentum'>): OuterOptimizerOptions {
  return { kind: c.outerOptimizer, lr: c.outerLr, momentum: c.outerMomentum };
}

interface FlagHelp { flag: string; key: keyof TrainConfig; help: string; kind: 'value' | 'boolean'; negation?: string }

/** The flags, in the order --help lists them. */
export const FLAGS: FlagHelp[] = [
  { flag: '--procs', key: 'procs', kind: 'value', help: 'worker processes, each with its own WebGPU device and data shard' },
  { flag: '--local-sgd-steps', key: 'localSgdSteps', kind: 'value', help: 'Local SGD: average parameters every K optimizer steps (and at the end)' },
  { flag: '--local-sgd-warmup-steps', key: 'localSgdWarmupSteps', kind: 'value', help: 'post-local SGD: the first W optimizer steps average gradients (synchronous), then Local SGD; parameters are averaged after steps W+K, W+2K, ... and at the end' },
  { flag: '--outer-optimizer', key: 'outerOptimizer', kind: 'value', help: 'DiLoCo outer optimizer at each averaging round: sgd | nesterov, stepping the global weights θ with Δ = θ − mean(workers); sgd with --outer-lr 1 and --outer-momentum 0 is plain averaging' },
  { flag: '--outer-lr', key: 'outerLr', kind: 'value', help: 'outer learning rate (DiLoCo: 0.7)' },
  { flag: '--outer-momentum', key: 'outerMomentum', kind: 'value', help: 'outer momentum in [0, 1) (DiLoCo: 0.9 with nesterov)' },
  { flag: '--local-sgd', key: 'localSgd', kind: 'boolean', negation: '--no-local-sgd', help: 'Local SGD on; --no-local-sgd averages gradients every optimizer step (synchronous data-parallel)' },
  { flag: '--data', key: 'data', kind: 'value', help: 'mnist | synthetic | FILE (.safetensors with x [N,F] f32 and y [N] ints, or .csv with the label first)' },
  { flag: '--eval-data', key: 'evalData', kind: 'value', help: 'test set FILE for a user data set (default: a held-out 20% of --data)' },
  { flag: '--synthetic-samples', key: 'syntheticSamples', kind: 'value', help: 'training samples of --data synthetic' },
  { flag: '--synthetic-features', key: 'syntheticFeatures', kind: 'value', help: 'features of --data synthetic' },
  { flag: '--synthetic-classes', key: 'syntheticClasses', kind: 'value', help: 'classes of --data synthetic' },
  { flag: '--epochs', key: 'epochs', kind: 'value', help: 'passes over each worker\'s shard' },
  { flag: '--max-steps', key: 'maxSteps', kind: 'value', help: 'optimizer steps to take; overrides --epochs' },
  { flag: '--batch-size', key: 'batchSize', kind: 'value', help: 'samples per worker per micro-batch (Accelerate\'s per-device batch size)' },
  { flag: '--grad-accum', key: 'gradAccum', kind: 'value', help: 'micro-batches accumulated in-kernel per optimizer step' },
  { flag: '--lr', key: 'lr', kind: 'value', help: 'peak learning rate' },
  { flag: '--optimizer', key: 'optimizer', kind: 'value', help: 'sgd | adamw' },
  { flag: '--momentum', key: 'momentum', kind: 'value', help: 'SGD momentum' },
  { flag: '--nesterov', key: 'nesterov', kind: 'boolean', help: 'Nesterov momentum for SGD' },
  { flag: '--weight-decay', key: 'weightDecay', kind: 'value', help: 'L2 penalty (SGD) or decoupled weight decay (AdamW)' },
  { flag: '--beta1', key: 'beta1', kind: 'value', help: 'AdamW β1' },
  { flag: '--beta2', key: 'beta2', kind: 'value', help: 'AdamW β2' },
  { flag: '--eps', key: 'eps', kind: 'value', help: 'AdamW ε' },
  { flag: '--schedule', key: 'schedule', kind: 'value', help: 'constant | linear | cosine learning-rate schedule' },
  { flag: '--warmup-steps', key: 'warmupSteps', kind: 'value', help: 'linear warmup optimizer steps' },
  { flag: '--hidden', key: 'hidden', kind: 'value', help: 'hidden layer widths, comma-separated' },
  { flag: '--activation', key: 'activation', kind: 'value', help: 'relu | gelu' },
  { flag: '--seed', key: 'seed', kind: 'value', help: 'seed for weights (all ranks) and data order' },
  { flag: '--shuffle', key: 'shuffle', kind: 'boolean', negation: '--no-shuffle', help: 'reshuffle every epoch; --no-shuffle: rank r takes samples r, r+W, r+2W, ... in order' },
  { flag: '--log-every', key: 'logEvery', kind: 'value', help: 'optimizer steps between log lines (the loss is read back only then)' },
  { flag: '--eval-every', key: 'evalEvery', kind: 'value', help: 'also evaluate the (averaged) model during training: at the first averaging point at or after every N optimizer steps' },
  { flag: '--eval-batch-size', key: 'evalBatchSize', kind: 'value', help: 'batch size of evaluation' },
  { flag: '--metrics', key: 'metrics', kind: 'value', help: 'write JSON lines (one per logged step, then a summary) to FILE' },
  { flag: '--save', key: 'save', kind: 'value', help: 'save the final (averaged) weights as safetensors to FILE' },
  { flag: '--save-every', key: 'saveEvery', kind: 'value', help: 'also write the --save checkpoint (with optimizer state) every N optimizer steps' },
  { flag: '--checkpoint-every', key: 'checkpointEvery', kind: 'value', help: 'multi-process: write a whole-run checkpoint to --save every R parameter averaging rounds (averaged weights, outer optimizer state, step = data position), for --resume' },
  { flag: '--init', key: 'init', kind: 'value', help: 'start from the weights in a safetensors FILE' },
  { flag: '--resume', key: 'resume', kind: 'value', help: 'resume weights, optimizer state and step from a checkpoint FILE; from a --checkpoint-every one, also the outer optimizer, with worker optimizer state restarted' },
  { flag: '--adapter', key: 'adapter', kind: 'value', help: 'WebGPU adapter name (substring; also WEBGPU_ADAPTER)' },
  { flag: '--backend', key: 'backend', kind: 'value', help: 'Dawn backend: vulkan, metal, d3d12, ... (also WEBGPU_BACKEND)' },
  { flag: '--comm-dtype', key: 'commDtype', kind: 'value', help: 'f32 | f16 | bf16: what parameter averaging sends; f16/bf16 send each round\'s change from the last average in 16 bits, half the bytes (the first round, and gradients under --no-local-sgd, stay f32)' },
  { flag: '--link-bandwidth', key: 'linkBandwidth', kind: 'value', help: 'simulated interconnect bandwidth per worker link: off, 10gbit, 1gbit, 100mbit, ...' },
  { flag: '--link-latency', key: 'linkLatency', kind: 'value', help: 'simulated one-way latency per message: 0, 5ms, 0.2ms, ...' },
  { flag: '--worker-timeout', key: 'workerTimeout', kind: 'value', help: 'seconds a worker may stay silent while others wait before the run stops' },
  {
    flag: '--on-worker-failure', key: 'onWorkerFailure', kind: 'value',
    help: 'a worker that crashes, exits early or hangs: abort (stop the run) | continue (drop its rank; later rounds average the survivors) | ' +
      'respawn (a new process takes the rank from the last averaged weights and step; Local SGD only)',
  },
  { flag: '--max-respawns', key: 'maxRespawns', kind: 'value', help: 'with --on-worker-failure respawn: new processes per rank before a further loss stops the run' },
  { flag: '--quiet', key: 'quiet', kind: 'boolean', help: 'print only the final summary' },
];

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses argv (without node and script) into a validated config. */
export function parseTrainArgs(argv: readonly string[]): TrainConfig {
  const raw: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const negated = FLAGS.find((f) => f.negation === name);
    if (negated) {
      raw[negated.key] = false;
      continue;
    }
    const flag = FLAGS.find((f) => f.flag === name);
    if (!flag) throw new UsageError(`unknown flag "${arg}"${suggest(name)}; see --help`);
    if (flag.kind === 'boolean') {
      raw[flag.key] = inline === undefined ? true : inline !== 'false' && inline !== '0';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`${flag.flag} needs a value (${flag.help})`);
    }
    raw[flag.key] = value;
  }
  const parsed = trainConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((issue) => issueMessage(issue)).join('\n'));
  }
  return parsed.data;
}

function issueMessage(issue: z.ZodIssue): string {
  const key = issue.path[0];
  const flag = FLAGS.find((f) => f.key === key)?.flag ?? String(key);
  if (issue.code === z.ZodIssueCode.invalid_enum_value) {
    return `${flag} must be one of ${issue.options.join(', ')} (got "${issue.received}")`;
  }
  return issue.message.startsWith('--') ? issue.message : `${flag}: ${issue.message}`;
}

function suggest(name: string): string {
  const close = FLAGS.map((f) => f.flag).find((f) => f.startsWith(name.slice(0, 5)));
  return close ? ` (did you mean ${close}?)` : '';
}

export function helpText(): string {
  const defaults = trainConfigSchema.parse({});
  const lines = [
    'Usage: node dist/train.js [flags]',
    '',
    'Trains an MLP with Local SGD across WebGPU worker processes.',
    'Example: node dist/train.js --procs 4 --local-sgd-steps 8',
    '',
  ];
  for (const f of FLAGS) {
    const d = defaults[f.key];
    const shown = f.kind === 'boolean' ? (f.negation ? `${f.flag} / ${f.negation}` : f.flag) : `${f.flag} <value>`;
    const def = d === undefined ? '' : ` (default: ${Array.isArray(d) ? d.join(',') : String(d)})`;
    lines.push(`  ${shown.padEnd(34)} ${f.help}${def}`);
  }
  lines.push('  --help                             show this help');
  return lines.join('\n');
}

/** Environment variable through which the coordinator hands each worker the run's config. */
export const CONFIG_ENV = 'LOCALSGD_CONFIG';

// Every flag of train.js: its name, help text and the config key it sets (the schema and its
// defaults live in train/config.ts). The CLI entry only parses argv into that config and calls run().
import { z } from 'zod';
import { DEFAULT_MODEL } from '../nn/model.js';
import { trainConfigSchema, type TrainConfig } from '../train/config.js';
import { resolveNodeLayout } from './node-layout.js';
import { UsageError } from './usage-error.js';

/** A config key, or `model.<key>` for a setting of the `model` field (whose kind is `model.kind`). */
type ConfigKey = keyof TrainConfig | `model.${string}`;

interface FlagHelp { flag: string; key: ConfigKey; help: string; kind: 'value' | 'boolean'; negation?: string }

/** The flags, in the order --help lists them. */
export const FLAGS: FlagHelp[] = [
  { flag: '--procs', key: 'procs', kind: 'value', help: 'worker processes on this one machine, each with its own WebGPU device and data shard (the same as --nnodes 1 --nproc-per-node N)' },
  // Several machines, torchrun's flags: one launcher per machine. Given any of the first five, each of
  // them is read from its flag, else the environment a scheduler sets, else the default (node-layout.ts).
  { flag: '--nnodes', key: 'nnodes', kind: 'value', help: 'machines in the run, one launcher on each (torchrun\'s --nnodes; else NNODES, SLURM_NNODES or SLURM_JOB_NUM_NODES)' },
  { flag: '--node-rank', key: 'nodeRank', kind: 'value', help: 'this machine\'s index, 0 … nnodes-1; node 0 is the master (else NODE_RANK, GROUP_RANK, SLURM_NODEID or a Kubernetes Indexed Job\'s JOB_COMPLETION_INDEX)' },
  { flag: '--nproc-per-node', key: 'nprocPerNode', kind: 'value', help: 'worker processes on each machine; the world size is nnodes × this, and a worker\'s global rank node-rank × this + its local rank (default 1 with --nnodes; use it instead of --procs)' },
  { flag: '--master-addr', key: 'masterAddr', kind: 'value', help: 'node 0\'s host name or IP address, reachable from every machine (else MASTER_ADDR, or the first host of SLURM_JOB_NODELIST; 127.0.0.1 with --nnodes 1)' },
  { flag: '--master-port', key: 'masterPort', kind: 'value', help: 'the TCP port node 0 listens on for the other machines (else MASTER_PORT)' },
  { flag: '--rendezvous-timeout', key: 'rendezvousTimeout', kind: 'value', help: 'seconds the master waits for every machine to join before naming the node ranks that never came' },
  { flag: '--cross-node-every', key: 'crossNodeEvery', kind: 'value', help: 'hierarchical Local SGD: average within each machine every K steps, across machines every M-th of those rounds (the last round is always across machines)' },
  { flag: '--join-token-file', key: 'joinTokenFile', kind: 'value', help: 'FILE holding the run\'s join secret, the same on every machine, readable only by you (else LOCALSGD_JOIN_TOKEN); make one with: openssl rand -hex 32 > join.token && chmod 600 join.token' },
  { flag: '--insecure', key: 'insecure', kind: 'boolean', help: 'no join secret: any process that reaches the master port may join (trusted networks only; warns every run)' },
  { flag: '--tls-cert', key: 'tlsCert', kind: 'value', help: 'TLS between machines: this machine\'s certificate FILE (PEM), with --tls-key and --tls-ca' },
  { flag: '--tls-key', key: 'tlsKey', kind: 'value', help: 'TLS: the private key FILE of --tls-cert' },
  { flag: '--tls-ca', key: 'tlsCa', kind: 'value', help: 'TLS: the CA certificate FILE that signed every machine\'s certificate' },
  { flag: '--browser-workers', key: 'browserWorkers', kind: 'value', help: 'also wait for N browser tabs to join as workers (ranks after the --procs processes; --procs 0: tabs only); the master serves their page and prints the join link' },
  { flag: '--browser-host', key: 'browserHost', kind: 'value', help: 'the address the browser workers\' page is served on; off loopback it needs --join-token-file and --tls-cert/--tls-key (browsers give WebGPU only to https pages)' },
  { flag: '--browser-port', key: 'browserPort', kind: 'value', help: 'the TCP port of the browser workers\' page (0: any free port, printed in the join link)' },
  { flag: '--local-sgd-steps', key: 'localSgdSteps', kind: 'value', help: 'Local SGD: average parameters every K optimizer steps (and at the end)' },
  { flag: '--local-sgd-warmup-steps', key: 'localSgdWarmupSteps', kind: 'value', help: 'post-local SGD: the first W optimizer steps average gradients (synchronous), then Local SGD; parameters are averaged after steps W+K, W+2K, ... and at the end' },
  { flag: '--outer-optimizer', key: 'outerOptimizer', kind: 'value', help: 'DiLoCo outer optimizer at each averaging round: sgd | nesterov, stepping the global weights θ with Δ = θ − mean(workers); sgd with --outer-lr 1 and --outer-momentum 0 is plain averaging' },
  { flag: '--outer-lr', key: 'outerLr', kind: 'value', help: 'outer learning rate (DiLoCo: 0.7)' },
  { flag: '--outer-momentum', key: 'outerMomentum', kind: 'value', help: 'outer momentum in [0, 1) (DiLoCo: 0.9 with nesterov)' },
  { flag: '--local-sgd', key: 'localSgd', kind: 'boolean', negation: '--no-local-sgd', help: 'Local SGD on; --no-local-sgd averages gradients every optimizer step (synchronous data-parallel)' },
  { flag: '--data', key: 'data', kind: 'value', help: 'mnist | synthetic | FILE (.safetensors with x [N,F] f32 and y [N] ints, or .csv with the label first)' },
  { flag: '--eval-data', key: 'evalData', kind: 'value', help: 'test set FILE for a user data set (default: a held-out 20% of --data)' },
  { flag: '--text', key: 'text', kind: 'value', help: '--model gpt: train on the bytes of FILE (any UTF-8 or binary file; the first 90% train, the last 10% validate) instead of the Brown corpus' },
  { flag: '--val-text', key: 'valText', kind: 'value', help: '--model gpt: validate on FILE; all of --text then trains' },
  { flag: '--val-windows', key: 'valWindows', kind: 'value', help: '--model gpt: evaluations score the first N windows of the validation bytes (default 64, a few seconds; more windows, less noise); node dist/eval.js scores them all' },
  { flag: '--classes', key: 'classes', kind: 'value', help: 'classes of a data FILE, labels 0 … N-1 (default: the labels must be exactly 0 … C-1 for the C values they take)' },
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
  { flag: '--nesterov', key: 'nesterov', kind: 'boolean', negation: '--no-nesterov', help: 'Nesterov momentum for SGD' },
  { flag: '--weight-decay', key: 'weightDecay', kind: 'value', help: 'L2 penalty (SGD) or decoupled weight decay (AdamW)' },
  { flag: '--beta1', key: 'beta1', kind: 'value', help: 'AdamW β1' },
  { flag: '--beta2', key: 'beta2', kind: 'value', help: 'AdamW β2' },
  { flag: '--eps', key: 'eps', kind: 'value', help: 'AdamW ε' },
  { flag: '--schedule', key: 'schedule', kind: 'value', help: 'constant | linear | cosine learning-rate schedule' },
  { flag: '--warmup-steps', key: 'warmupSteps', kind: 'value', help: 'linear warmup optimizer steps' },
  { flag: '--min-lr', key: 'minLr', kind: 'value', help: 'the learning rate linear and cosine schedules decay to at the last step (nanoGPT\'s min_lr; --model gpt: a tenth of --lr, as nanoGPT)' },
  { flag: '--grad-clip', key: 'gradClip', kind: 'value', help: 'clip the gradients to this global L2 norm before each optimizer step, on the GPU (torch\'s clip_grad_norm_; 0: off)' },
  {
    flag: '--model', key: 'model.kind', kind: 'value',
    help: 'the network: mlp (a multi-layer perceptron shaped by --hidden and --activation, on --data) | gpt (nanoGPT\'s GPT, a byte-level language model ' +
      'shaped by --n-layer, --n-head, --n-embd and --block-size, on --text or the Brown corpus)',
  },
  { flag: '--hidden', key: 'model.hidden', kind: 'value', help: '--model mlp: hidden layer widths, comma-separated' },
  { flag: '--activation', key: 'model.activation', kind: 'value', help: '--model mlp: relu | gelu' },
  { flag: '--n-layer', key: 'model.nLayer', kind: 'value', help: '--model gpt: transformer blocks (default 4)' },
  { flag: '--n-head', key: 'model.nHead', kind: 'value', help: '--model gpt: attention heads; --n-embd must be a multiple of it (default 4)' },
  { flag: '--n-embd', key: 'model.nEmbd', kind: 'value', help: '--model gpt: the residual stream\'s width (default 128)' },
  { flag: '--block-size', key: 'model.blockSize', kind: 'value', help: '--model gpt: bytes of context, the length of each training window (default 64)' },
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
  { flag: '--link-bandwidth', key: 'linkBandwidth', kind: 'value', help: 'simulated interconnect bandwidth: on one machine each worker link, across machines each machine\'s link to the master: off, 10gbit, 1gbit, 100mbit, ...' },
  { flag: '--link-latency', key: 'linkLatency', kind: 'value', help: 'simulated one-way latency per message: 0, 5ms, 0.2ms, ...' },
  { flag: '--worker-timeout', key: 'workerTimeout', kind: 'value', help: 'seconds a worker may stay silent while others wait before the run stops' },
  {
    flag: '--on-worker-failure', key: 'onWorkerFailure', kind: 'value',
    help: 'a worker that crashes, exits early or hangs: abort (stop the run) | continue (drop its rank; later rounds average the survivors) | ' +
      'respawn (a new process takes the rank from the last averaged weights and step; Local SGD only)',
  },
  { flag: '--max-respawns', key: 'maxRespawns', kind: 'value', help: 'with --on-worker-failure respawn: new processes per rank before a further loss stops the run' },
  {
    flag: '--autotune', key: 'autotune', kind: 'boolean', negation: '--no-autotune',
    help: 'choose each matrix product\'s kernel variant by timing the candidates once per adapter and shape class (at most ~0.3 s each), cached in ' +
      '$XDG_CACHE_HOME/webgpu-local-sgd (or WEBGPU_LOCAL_SGD_CACHE_DIR); --no-autotune takes the fixed table. Every variant gives the same bits',
  },
  { flag: '--quiet', key: 'quiet', kind: 'boolean', negation: '--no-quiet', help: 'print only the final summary' },
  {
    flag: '--verbose', key: 'verbose', kind: 'boolean', negation: '--no-verbose',
    help: 'also show the driver notices known to be harmless that workers print on every run (Dawn\'s lowered adapter limits), otherwise hidden; ' +
      'with --procs 1 Dawn prints its notice itself, once, either way',
  },
];

export { UsageError };

/**
 * Parses argv (without node and script) into a validated config. `env` is read only for a
 * multi-machine run (a node flag given): see node-layout.ts.
 */
export function parseTrainArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): TrainConfig {
  const raw: Record<string, unknown> = {};
  const given = new Map<ConfigKey, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const negated = FLAGS.find((f) => f.negation === name);
    const flag = negated ?? FLAGS.find((f) => f.flag === name);
    if (!flag) throw new UsageError(`unknown flag "${arg}"${suggest(name)}; see --help`);
    const previous = given.get(flag.key);
    if (previous !== undefined) {
      throw new UsageError(`${flag.flag} is given twice (${previous} and ${arg}): give each flag once`);
    }
    given.set(flag.key, arg);
    if (negated) {
      if (inline !== undefined) throw new UsageError(`${name} takes no value (got "${arg}"); use ${flag.flag}=${inline === 'false' ? 'true' : 'false'} or ${name} alone`);
      set(raw, flag.key, false);
    } else if (flag.kind === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') {
        throw new UsageError(`${flag.flag} is on or off: write ${flag.flag}, ${flag.negation ?? `--no-${flag.flag.slice(2)}`}, or ${flag.flag}=true|false (got "${arg}")`);
      }
      set(raw, flag.key, inline !== 'false');
    } else {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) {
        throw new UsageError(`${flag.flag} needs a value (${flag.help})`);
      }
      set(raw, flag.key, value);
    }
  }
  const text = (key: keyof TrainConfig) => raw[key] as string | undefined;
  const layout = resolveNodeLayout({
    procs: text('procs'), nnodes: text('nnodes'), nodeRank: text('nodeRank'), nprocPerNode: text('nprocPerNode'),
    masterAddr: text('masterAddr'), masterPort: text('masterPort'),
  }, env);
  if (layout) {
    const { from: _, ...values } = layout;
    Object.assign(raw, values);
  }
  // Across machines the schema refuses browser workers, naming them rather than a world-size sum.
  const severalMachines = Number(raw.nnodes ?? 1) > 1;
  if (raw.browserWorkers !== undefined && !severalMachines) Object.assign(raw, worldWithTabs(raw.procs, raw.browserWorkers));
  // --hidden alone means the default model with those layers.
  const model = raw.model as Record<string, unknown> | undefined;
  if (model) model.kind ??= DEFAULT_MODEL;
  const parsed = trainConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((issue) => issueMessage(issue, raw)).join('\n'));
  }
  for (const rule of APPLICABILITY) {
    const stray = rule.keys.filter((k) => given.has(k));
    if (stray.length > 0 && !rule.applies(parsed.data)) {
      const flags = stray.map((k) => FLAGS.find((f) => f.key === k)!.flag).join(', ');
      throw new UsageError(`${flags} ${stray.length > 1 ? 'do' : 'does'} not apply to this run: ${rule.why(parsed.data)}; leave ${stray.length > 1 ? 'them' : 'it'} out`);
    }
  }
  return parsed.data;
}

/**
 * With --browser-workers, --procs counts only the worker processes (0 is allowed: tabs only), while
 * the config's `procs` is the world size, as everywhere else; the tabs take the last ranks.
 */
function worldWithTabs(procs: unknown, browserWorkers: unknown): { procs: string } | Record<string, never> {
  const tabs = Number(browserWorkers);
  const processes = procs === undefined ? trainConfigSchema.parse({}).procs : Number(procs);
  if (!Number.isInteger(tabs) || !Number.isInteger(processes) || processes < 0) {
    if (!Number.isInteger(processes) || processes < 0) throw new UsageError(`--procs must be a whole number from 0 to 64 with --browser-workers (got "${String(procs)}")`);
    return {}; // the schema names the bad --browser-workers
  }
  if (processes + tabs < 1) throw new UsageError('--procs 0 --browser-workers 0 leaves no worker: give one of them at least 1');
  return { procs: String(processes + tabs) };
}

/** Flags that only mean something in some runs: given in another, they would silently do nothing. */
const APPLICABILITY: ReadonlyArray<{ keys: ReadonlyArray<keyof TrainConfig>; applies: (c: TrainConfig) => boolean; why: (c: TrainConfig) => string }> = [
  // Before the rules about --data: with --model gpt the reason is the model, not the data set.
  {
    keys: ['data', 'evalData', 'classes', 'syntheticSamples', 'syntheticFeatures', 'syntheticClasses'], applies: (c) => c.model.kind !== 'gpt',
    why: () => 'it chooses or shapes the MLP\'s data set, and --model gpt reads text (--text FILE, or the Brown corpus without it)',
  },
  { keys: ['text', 'valText', 'valWindows'], applies: (c) => c.model.kind === 'gpt', why: (c) => `it concerns a language model's text, and this run trains --model ${c.model.kind} on --data` },
  { keys: ['valText'], applies: (c) => c.text !== undefined, why: () => 'it replaces the validation part of --text FILE, and no --text is given (the Brown corpus has its own split)' },
  { keys: ['momentum', 'nesterov'], applies: (c) => c.optimizer === 'sgd', why: () => 'they set SGD, and this run uses --optimizer adamw' },
  { keys: ['beta1', 'beta2', 'eps'], applies: (c) => c.optimizer === 'adamw', why: () => 'they set AdamW, and this run uses --optimizer sgd' },
  {
    keys: ['syntheticSamples', 'syntheticFeatures', 'syntheticClasses'], applies: (c) => c.data === 'synthetic',
    why: (c) => `they shape --data synthetic, and this run's data is ${c.data}`,
  },
  {
    keys: ['evalData', 'classes'], applies: (c) => c.data !== 'mnist' && c.data !== 'synthetic',
    why: (c) => `it describes a data FILE, and --data ${c.data} brings its own test set and classes`,
  },
  { keys: ['minLr'], applies: (c) => c.schedule !== 'constant', why: () => 'it is where a linear or cosine schedule ends, and --schedule constant keeps --lr' },
  { keys: ['epochs'], applies: (c) => c.maxSteps === undefined, why: () => '--max-steps sets the length of the run and overrides it; give one of the two' },
  {
    keys: ['onWorkerFailure', 'maxRespawns', 'workerTimeout', 'linkBandwidth', 'linkLatency', 'localSgd', 'localSgdSteps', 'commDtype', 'outerOptimizer', 'outerLr', 'outerMomentum'],
    applies: (c) => c.procs > 1 || c.browserWorkers > 0, why: () => 'it concerns workers and their averaging, and --procs 1 trains in this one process',
  },
  {
    keys: ['localSgdSteps', 'commDtype', 'outerOptimizer', 'outerLr', 'outerMomentum'], applies: (c) => c.localSgd,
    why: () => 'it concerns parameter averaging rounds, and --no-local-sgd averages gradients every step instead',
  },
  {
    keys: ['crossNodeEvery', 'insecure', 'tlsCa'], applies: (c) => c.nnodes > 1,
    why: () => 'it concerns the links between machines, and this run is on one machine (give --nnodes N for several)',
  },
  {
    keys: ['rendezvousTimeout', 'joinTokenFile', 'tlsCert', 'tlsKey'], applies: (c) => c.nnodes > 1 || c.browserWorkers > 0,
    why: () => 'it concerns the links between machines or to browser tabs, and this run is on one machine without --browser-workers',
  },
  {
    keys: ['browserHost', 'browserPort'], applies: (c) => c.browserWorkers > 0,
    why: () => 'it says where browser tabs join, and this run has no --browser-workers',
  },
  {
    keys: ['crossNodeEvery'], applies: (c) => c.localSgd || c.crossNodeEvery === 1,
    why: () => 'it spaces parameter averaging rounds, and --no-local-sgd averages gradients across all machines every step instead',
  },
  { keys: ['maxRespawns'], applies: (c) => c.onWorkerFailure === 'respawn', why: (c) => `it limits --on-worker-failure respawn, and this run's policy is ${c.onWorkerFailure}` },
  { keys: ['saveEvery'], applies: (c) => c.save !== undefined, why: () => 'it writes the --save file, and no --save FILE is given' },
];

/** Sets a config key in the raw (unvalidated) config; `model.<key>` goes into the `model` object. */
function set(raw: Record<string, unknown>, key: ConfigKey, value: unknown): void {
  if (!key.startsWith('model.')) {
    raw[key] = value;
    return;
  }
  const model = (raw.model ??= {}) as Record<string, unknown>;
  model[key.slice('model.'.length)] = value;
}

function get(config: Record<string, unknown>, key: ConfigKey): unknown {
  if (!key.startsWith('model.')) return config[key];
  return (config.model as Record<string, unknown> | undefined)?.[key.slice('model.'.length)];
}

function issueMessage(issue: z.ZodIssue, raw: Record<string, unknown>): string {
  const flagOf = (key: string) => FLAGS.find((f) => f.key === key)?.flag;
  const flag = flagOf(issue.path.slice(0, 2).join('.')) ?? flagOf(String(issue.path[0])) ?? String(issue.path[0]);
  if (issue.code === z.ZodIssueCode.invalid_enum_value) {
    return `${flag} must be one of ${issue.options.join(', ')} (got "${issue.received}")`;
  }
  if (issue.code === z.ZodIssueCode.invalid_union_discriminator) {
    return `${flag} must be one of ${issue.options.join(', ')} (got "${String(get(raw, 'model.kind'))}")`;
  }
  if (issue.code === z.ZodIssueCode.unrecognized_keys && issue.path[0] === 'model') {
    const flags = issue.keys.map((k) => flagOf(`model.${k}`) ?? k);
    return `${flags.join(', ')} ${flags.length > 1 ? 'do' : 'does'} not apply to --model ${String(get(raw, 'model.kind'))}; drop ${flags.length > 1 ? 'them' : 'it'}`;
  }
  return issue.message.startsWith('--') ? issue.message : `${flag}: ${issue.message}`;
}

function suggest(name: string): string {
  const close = FLAGS.map((f) => f.flag).find((f) => f.startsWith(name.slice(0, 5)));
  return close ? ` (did you mean ${close}?)` : '';
}

export function helpText(): string {
  const defaults = trainConfigSchema.parse({});
  // The GPT's own training defaults (nanoGPT's recipe), shown beside the general ones.
  const gptDefaults = trainConfigSchema.parse({ model: { kind: 'gpt' } });
  const lines = [
    'Usage: node dist/train.js [flags]',
    '',
    'Trains a model (an MLP on MNIST by default, or a GPT on text) with Local SGD across WebGPU worker processes.',
    'Example: node dist/train.js --procs 4 --local-sgd-steps 8',
    '         node dist/train.js --model gpt --procs 4 --local-sgd-steps 32',
    '',
  ];
  const shownValue = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  for (const f of FLAGS) {
    const d = get(defaults as Record<string, unknown>, f.key);
    const g = f.key.startsWith('model.') ? undefined : get(gptDefaults as Record<string, unknown>, f.key);
    const shown = f.kind === 'boolean' ? (f.negation ? `${f.flag} / ${f.negation}` : f.flag) : `${f.flag} <value>`;
    const gpt = g !== undefined && shownValue(g) !== shownValue(d) ? `${d === undefined ? ' (default: none' : ''}; --model gpt: ${shownValue(g)}` : '';
    const def = d === undefined && gpt === '' ? '' : `${d === undefined ? '' : ` (default: ${shownValue(d)}`}${gpt})`;
    lines.push(`  ${shown.padEnd(34)} ${f.help}${def}`);
  }
  lines.push('  --help                             show this help');
  return lines.join('\n');
}


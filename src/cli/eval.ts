// node dist/eval.js --checkpoint F --text FILE [--json] [--batch-size N]: a GPT's mean cross-entropy
// on a text, in nats per predicted byte and bits per byte, over the documented windowing (windows
// at 0, T, 2T, …; inputs [s, s+T), targets [s+1, s+T+1); a window past the end dropped; the mean
// over all targets), so any other implementation can reproduce the number.
// Exit codes: 0 done, 1 failed, 2 refused before running.
import { z } from 'zod';
import { loadBrown } from '../data/brown.js';
import { readTextFile } from '../data/text.js';
import { openGpu } from '../gpu/device.js';
import { GpuError } from '../gpu/errors.js';
import { describeCheckpoint, gptFromCheckpoint, readGptCheckpoint } from '../lm/gpt-checkpoint.js';
import { evaluateGpt } from '../lm/evaluate.js';
import { parseToolArgs, pathFlag, toolHelp, wholeNumberFlag, type ToolFlag } from './tool-args.js';
import { UsageError } from './usage-error.js';

const FLAGS: ToolFlag[] = [
  { flag: '--checkpoint', key: 'checkpoint', help: 'the .safetensors FILE that node dist/train.js --model gpt --save FILE wrote (required)' },
  { flag: '--text', key: 'text', help: 'the FILE to score, all of it (any UTF-8 or binary file); without it, the Brown corpus\'s validation split (its last 10 %, what train.js validates on by default)' },
  { flag: '--json', key: 'json', help: 'print only {"loss": …, "bitsPerByte": …, "targets": …}', boolean: true },
  { flag: '--batch-size', key: 'batchSize', help: 'windows per GPU batch (the result does not depend on it)' },
  { flag: '--adapter', key: 'adapter', help: 'WebGPU adapter name (substring; also WEBGPU_ADAPTER)' },
  { flag: '--backend', key: 'backend', help: 'Dawn backend: vulkan, metal, d3d12, ... (also WEBGPU_BACKEND)' },
];

const evalConfigSchema = z.object({
  checkpoint: pathFlag('--checkpoint'),
  text: pathFlag('--text').optional(),
  json: z.boolean().default(false),
  batchSize: wholeNumberFlag('--batch-size', 1, 4096).default('32'),
  adapter: pathFlag('--adapter').optional(),
  backend: pathFlag('--backend').optional(),
}).strict();
type EvalConfig = z.infer<typeof evalConfigSchema>;

function evalHelp(): string {
  const { batchSize } = evalConfigSchema.parse({ checkpoint: 'F', text: 'F' });
  return toolHelp([
    'Usage: node dist/eval.js --checkpoint FILE [--text FILE] [--json] [--batch-size N]',
    '',
    'The mean cross-entropy of a GPT trained by node dist/train.js --model gpt on a text, in nats per predicted byte and in bits',
    'per byte. The windows, T being the block size: one starts at each of 0, T, 2T, …; the window at s has inputs bytes [s, s+T)',
    'and targets bytes [s+1, s+T+1); a window with s+T+1 beyond the end is dropped; the loss is the mean over all targets.',
    'Example: node dist/eval.js --checkpoint gpt.safetensors --text valid.txt --json',
  ], FLAGS, { batchSize });
}

async function run(config: EvalConfig): Promise<void> {
  let checkpoint;
  let bytes;
  try {
    checkpoint = readGptCheckpoint(config.checkpoint);
    bytes = config.text !== undefined ? readTextFile(config.text, checkpoint.options.blockSize, '--text', 'to evaluate on') : loadBrown().val;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const ctx = await openGpu({ adapter: config.adapter ?? process.env.WEBGPU_ADAPTER, backend: config.backend ?? process.env.WEBGPU_BACKEND });
  try {
    const source = config.text !== undefined ? `--text ${config.text}` : 'the Brown corpus\'s validation split (its last 10 %)';
    if (!config.json) console.log(`${describeCheckpoint(checkpoint)}\non ${source} (${bytes.length} bytes)`);
    const start = performance.now();
    const result = await evaluateGpt(gptFromCheckpoint(ctx, checkpoint), bytes, config.batchSize);
    if (config.json) {
      console.log(JSON.stringify({ loss: result.loss, bitsPerByte: result.bitsPerByte, targets: result.targets }));
    } else {
      console.log(`loss ${result.loss.toFixed(4)} nats/byte (${result.bitsPerByte.toFixed(4)} bits/byte) over ${result.targets} predicted bytes ` +
        `(${result.targets / checkpoint.options.blockSize} windows of ${checkpoint.options.blockSize}) in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    }
  } finally {
    ctx.close();
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(evalHelp());
    return 0;
  }
  try {
    await run(parseToolArgs('eval.js', FLAGS, evalConfigSchema, argv));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n(see node dist/eval.js --help)`);
      return 2;
    }
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.DEBUG && !(e instanceof GpuError)) console.error((e as Error).stack);
    return 1;
  }
}

// Exit explicitly: a Dawn instance that is still referenced would keep Node alive.
main(process.argv.slice(2)).then((code) => process.exit(code));

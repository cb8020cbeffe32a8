// How fast is one GPT training step at the baby GPT's shape (nanoGPT's CPU recipe: 4 layers, 4 heads,
// 128 wide, block 64, vocab 256, batch 12)? Times the forward (with the loss), the whole training step
// (forward + loss + backward), tokens/s and GFLOP/s of the matrix products, then every dispatch of
// the step alone, summed by kernel family, to show where the time goes.
// Run: node dist/bench/gpt-model.js [--batch 12]
import { formatAdapter, openGpu, type GpuContext } from '../src/gpu/device.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { timeGpu } from './lib/gpu-timing.js';
import { Gpt } from '../src/nn/gpt.js';


const batchAt = process.argv.indexOf('--batch');
const B = batchAt > 0 ? Number(process.argv[batchAt + 1]) : 12;
const options = { vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 };
const { blockSize: T, nEmbd: C, nLayer: L, vocabSize: V } = options;
const ctx = await openGpu();
const model = new Gpt(ctx, options);
model.setParameters(model.initialParameters(1));
const graph = await model.graph(B, 1);
const tokens = Uint32Array.from({ length: B * T }, () => Math.floor(Math.random() * V));
graph.upload({ tokens, targets: Uint32Array.from(tokens, (t) => (t + 1) % V), size: B });

// Matrix-product FLOPs: per token 2·(3C² + C² + 4C² + 4C²)·L for the blocks and 2·C·V for the head;
// the backward does two products per forward one.
const forwardFlops = 2 * B * T * (12 * C * C * L + C * V);
const attentionFlops = 2 * 2 * B * L * C * (T * (T + 1)) / 2; // q·k and att·v over the causal half
const forwardMs = await timeGpu(ctx, graph.evalDispatches(), 5, 1000);
const stepMs = await timeGpu(ctx, graph.trainDispatches(true), 5, 1000);
console.log(`adapter: ${formatAdapter(ctx.info)}`);
console.log(`${model.description}; batch ${B} × ${T} tokens; ${graph.trainDispatches(true).length} dispatches per step`);
console.log(`forward + loss: ${forwardMs.toFixed(2)} ms (${((forwardFlops + attentionFlops) / forwardMs / 1e6).toFixed(2)} GFLOP/s)`);
console.log(`training step (forward, loss, backward): ${stepMs.toFixed(2)} ms, ${Math.round((B * T) / (stepMs / 1000))} tokens/s, ` +
  `${((3 * (forwardFlops + attentionFlops)) / stepMs / 1e6).toFixed(2)} GFLOP/s`);

const families = new Map<string, number>();
for (const d of graph.trainDispatches(true)) {
  const family = d.label.replace(/transformer\.h\.\d+\.?/, '').replace(/ (first|accumulate)$/, '');
  families.set(family, (families.get(family) ?? 0) + (await timeGpu(ctx, [d], 3, 30)));
}
console.log('each dispatch alone, summed over the layers (ms):');
for (const [family, ms] of [...families].sort((a, b) => b[1] - a[1])) console.log(`  ${ms.toFixed(3).padStart(8)}  ${family}`);
ctx.close();

// Probe: the baby GPT's training step, wall and shader-thread CPU time, per kernel family.
import { openGpu } from '../src/gpu/device.js';
import { median } from './lib/gpu-timing.js';
import { timeOnce } from './lib/cpu-time.js';
import { Gpt } from '../src/nn/gpt.js';

const B = 12;
const options = { vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 };
const ctx = await openGpu();
const model = new Gpt(ctx, options);
model.setParameters(model.initialParameters(1));
const graph = await model.graph(B, 1);
const tokens = Uint32Array.from({ length: B * 64 }, () => Math.floor(Math.random() * 256));
graph.upload({ tokens, targets: Uint32Array.from(tokens, (t) => (t + 1) % 256), size: B });
const step = graph.trainDispatches(true);
await timeOnce(ctx, step, 1, 0);
const cpu = [], wall = [];
for (let r = 0; r < 5; r++) { const t = await timeOnce(ctx, step, 2, wall.length ? Math.min(...wall) : 300); cpu.push(t.cpuMs!); wall.push(t.wallMs); }
console.log(`step: wall min ${Math.min(...wall).toFixed(1)} med ${median(wall).toFixed(1)} ms; cpu med ${median(cpu).toFixed(1)} ms; ${Math.round(768 / Math.min(...wall) * 1000)} tokens/s best wall`);
const fam = new Map<string, number>();
for (const d of step) {
  const family = d.label.replace(/transformer\.h\.\d+\.?/, '').replace(/ (first|accumulate)$/, '');
  await timeOnce(ctx, [d], 1, 0);
  const s = [];
  for (let r = 0; r < 3; r++) s.push((await timeOnce(ctx, [d], 10, 1)).cpuMs!);
  fam.set(family, (fam.get(family) ?? 0) + median(s));
}
const total = [...fam.values()].reduce((a, b) => a + b, 0);
console.log(`sum of dispatch cpu: ${total.toFixed(1)} ms`);
for (const [f, ms] of [...fam].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[2] ?? 20))) console.log(`  ${ms.toFixed(2).padStart(8)} ${(100 * ms / total).toFixed(1).padStart(5)}%  ${f}`);
ctx.close();

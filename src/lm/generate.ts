// Text from a GPT, as nanoGPT's generate() makes it: crop the context to its last block_size bytes
// (positions from 0), run the forward pass on the GPU, take the last position's logits, and draw the
// next byte on the CPU: logits / temperature, top-k (everything below the k-th largest to −∞),
// softmax, one multinomial draw from the project's seeded PRNG. Temperature 0 is greedy (argmax).
import { readFloat32 } from '../gpu/buffers.js';
import { submitDispatches } from '../gpu/dispatch.js';
import { createRng, type Rng } from '../data/prng.js';
import type { Gpt, GptGraph } from '../nn/gpt.js';

export interface SamplingOptions {
  /** 0: greedy. */
  temperature: number;
  /** Keep the k largest logits (ties with the k-th kept, as torch.topk's threshold does); ≥ vocab keeps all. */
  topK: number;
}

/** The first index of the largest value (torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** One draw of the next token from `logits` (one position's, [vocab]). */
export function sampleLogits(logits: ArrayLike<number>, o: SamplingOptions, rng: Rng): number {
  const V = logits.length;
  for (let i = 0; i < V; i++) {
    if (!Number.isFinite(logits[i]!)) throw new Error(`the model's logit for token ${i} is ${logits[i]}; its weights are not finite or overflow`);
  }
  if (o.temperature === 0) return argmax(logits);
  const scaled = Float64Array.from(logits, (x) => x / o.temperature);
  if (o.topK < V) {
    // nanoGPT: v, _ = torch.topk(logits, k); logits[logits < v[:, [-1]]] = -inf
    const kth = Float64Array.from(scaled).sort().at(-o.topK)!;
    for (let i = 0; i < V; i++) if (scaled[i]! < kth) scaled[i] = -Infinity;
  }
  let max = -Infinity;
  for (const x of scaled) max = Math.max(max, x);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += scaled[i] = Math.exp(scaled[i]! - max);
  // torch.multinomial on softmax(scaled): the first index whose cumulative probability passes u.
  const u = rng.next() * sum;
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < V; i++) {
    if (scaled[i] === 0) continue;
    cumulative += scaled[i]!;
    last = i;
    if (u < cumulative) return i;
  }
  return last; // u within rounding of the total
}

/**
 * The forward pass of a batch-1 evaluation graph, one context at a time. A context of n < T bytes
 * sits at positions 0 … n−1 with zeros after it; attention is causal, so the padding does not reach
 * position n−1, and one graph serves every length.
 */
export class NextTokenLogits {
  readonly #tokens: Uint32Array;
  readonly #targets: Uint32Array;

  private constructor(readonly model: Gpt, private readonly graph: GptGraph) {
    this.#tokens = new Uint32Array(model.options.blockSize);
    this.#targets = new Uint32Array(model.options.blockSize);
  }

  static async create(model: Gpt): Promise<NextTokenLogits> {
    return new NextTokenLogits(model, await model.graph(1, 1, { training: false }));
  }

  /** The logits [vocab] of the token after `context`, which the model sees cropped to its last block_size tokens. */
  async after(context: ArrayLike<number>): Promise<Float32Array> {
    const { blockSize: T, vocabSize: V } = this.model.options;
    if (context.length === 0) throw new Error('NextTokenLogits: the context is empty; start from at least one token (nanoGPT starts from "\\n")');
    const n = Math.min(context.length, T);
    this.#tokens.fill(0);
    for (let t = 0; t < n; t++) this.#tokens[t] = context[context.length - n + t]!;
    // The graph's loss kernels run too (on zero targets); their sums are cleared and never read.
    this.graph.clearStats();
    this.graph.upload({ tokens: this.#tokens, targets: this.#targets, size: 1 });
    submitDispatches(this.model.ctx, 'sampling forward', this.graph.evalDispatches());
    // Stall: the next token depends on these logits.
    return readFloat32(this.model.ctx, this.graph.logits, { byteOffset: (n - 1) * V * 4, byteLength: V * 4 });
  }
}

export interface GenerateOptions extends SamplingOptions {
  /** New tokens to draw. */
  tokens: number;
  seed: number;
}

/** nanoGPT's generate(): yields each new token as soon as it is drawn. */
export async function* generate(logits: NextTokenLogits, prompt: ArrayLike<number>, o: GenerateOptions): AsyncGenerator<number, void, undefined> {
  const rng = createRng(o.seed);
  const context = Array.from(prompt);
  for (let i = 0; i < o.tokens; i++) {
    const next = sampleLogits(await logits.after(context), o, rng);
    context.push(next);
    yield next;
  }
}

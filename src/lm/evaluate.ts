// A GPT's loss on a text on the GPU, by the documented evaluation windowing (data/text.ts's
// evaluateText: windows at 0, T, 2T, …, the mean over all their targets): what eval.js reports.
import { submitDispatches } from '../gpu/dispatch.js';
import { evaluateText, type TextEvaluation } from '../data/text.js';
import type { Gpt } from '../nn/gpt.js';

/**
 * Each batch's loss sum is read back on its own (a stall per batch) and added in float64, so the
 * result does not depend on how many batches a long text needs.
 */
export async function evaluateGpt(model: Gpt, bytes: Uint8Array, batchSize: number): Promise<TextEvaluation> {
  const graph = await model.graph(batchSize, 1, { training: false });
  return evaluateText(bytes, model.options.blockSize, batchSize, async (batch) => {
    graph.clearStats();
    graph.upload({ tokens: batch.inputs, targets: batch.targets, size: batch.rows });
    submitDispatches(model.ctx, 'evaluation', graph.evalDispatches());
    return (await graph.readStats(batch.rows)).lossSum;
  });
}

// Test-set loss and accuracy of a model, batched on the GPU: per prediction (per sample for a
// classifier, per position for a language model).
import type { Accelerator } from '../accelerate/accelerator.js';
import { evalBatches } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';
import type { Batch } from '../data/batch.js';
import type { ModelGraph } from '../nn/model.js';

export interface Evaluation {
  loss: number;
  accuracy: number;
  samples: number;
}

/**
 * Full batches accumulate their per-row statistics on the GPU and are read once; a last partial
 * batch (zero-padded by evalBatches) is read separately so its padded rows can be left out.
 */
export async function evaluate(accelerator: Accelerator, graph: ModelGraph, dataset: Dataset): Promise<Evaluation> {
  return evaluateBatches(accelerator, graph, evalBatches(dataset, graph.batchSize));
}

/**
 * The mean loss and accuracy per prediction over `batches` (each graph.batchSize rows, of which
 * `size` are real; only the last may be partial): a language model's validation windows, say.
 */
export async function evaluateBatches(accelerator: Accelerator, graph: ModelGraph, batches: Iterable<Batch>): Promise<Evaluation> {
  const recorder = accelerator.recorder;
  await recorder.sync();
  graph.clearStats();
  let lossSum = 0;
  let correct = 0;
  let fullRows = 0;
  let samples = 0;
  const fullBatches = () => recorder.stall(() => graph.readStats(graph.batchSize));
  for (const batch of batches) {
    samples += batch.size;
    if (batch.size < graph.batchSize) {
      if (fullRows > 0) {
        recorder.flush();
        const s = await fullBatches();
        lossSum += s.lossSum;
        correct += s.correct;
        fullRows = 0;
        graph.clearStats();
      }
      recorder.flush();
      graph.upload(batch);
      recorder.record(graph.evalDispatches());
      recorder.flush();
      const s = await recorder.stall(() => graph.readStats(batch.size));
      lossSum += s.lossSum;
      correct += s.correct;
      continue;
    }
    recorder.flush();
    graph.upload(batch);
    recorder.record(graph.evalDispatches());
    fullRows += batch.size;
  }
  if (fullRows > 0) {
    recorder.flush();
    const s = await fullBatches();
    lossSum += s.lossSum;
    correct += s.correct;
  }
  graph.clearStats();
  const predictions = samples * graph.predictionsPerSample;
  return { loss: lossSum / predictions, accuracy: correct / predictions, samples };
}

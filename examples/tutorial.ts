// The seed tutorial ("Local SGD with Accelerate") in TypeScript, on this project's public API.
// Three versions of one training loop: plain, with the Accelerator, and with LocalSGD added in two
// lines. Run one process:     node dist/examples/tutorial.js --version local-sgd
// or four, like `accelerate launch`:  node dist/examples/tutorial.js --version local-sgd --procs 4
import { fileURLToPath } from 'node:url';
import {
  Accelerator, createOptimizer, ENV, evaluate, launch, loadMnist, LocalSGD, Mlp, submitDispatches, WorkerChannel, type MlpGraph,
} from '../src/index.js';

const gradientAccumulationSteps = 2;
const batchSize = 32;
const lr = 0.05;
const sgd = { kind: 'sgd', momentum: 0.9, weightDecay: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

/** Version 1: one process, no Accelerator; accumulation every two batches, as in the seed. */
async function plainLoop(): Promise<void> {
  const accelerator = await Accelerator.create({ gradientAccumulationSteps }); // only for its device
  const { train } = await loadMnist();
  const model = new Mlp(accelerator.ctx, { inputs: 784, hidden: [256], classes: 10, activation: 'relu' });
  model.setParameters(model.initialParameters(0));
  const optimizer = await createOptimizer(accelerator.ctx, model, sgd);
  const graph = await model.graph(batchSize, gradientAccumulationSteps);
  const batches = Math.floor(train.count / batchSize);
  for (let index = 0; index < batches; index++) {
    const x = train.x.subarray(index * batchSize * 784, (index + 1) * batchSize * 784);
    const y = train.y.subarray(index * batchSize, (index + 1) * batchSize);
    graph.upload({ x, y, size: batchSize });
    // outputs = model(inputs); loss = loss_function(outputs, targets) / accumulation; loss.backward()
    const dispatches = graph.trainDispatches(index % gradientAccumulationSteps === 0);
    if ((index + 1) % gradientAccumulationSteps === 0) dispatches.push(...optimizer.prepareStep(lr)); // optimizer.step()
    submitDispatches(accelerator.ctx, 'step', dispatches);
  }
  await report(accelerator, graph);
}

/** Versions 2 and 3: the Accelerator shards data and averages; LocalSGD adds two lines. */
async function acceleratedLoop(withLocalSgd: boolean): Promise<void> {
  const channel = await WorkerChannel.fromEnvironment(); // set by launch(); undefined in one process
  const accelerator = await Accelerator.create({ gradientAccumulationSteps, channel });
  const { train } = await loadMnist();
  const model = new Mlp(accelerator.ctx, { inputs: 784, hidden: [256], classes: 10, activation: 'relu' });
  const optimizer = await createOptimizer(accelerator.ctx, model, sgd);
  await accelerator.broadcastParameters(model, model.initialParameters(0));
  const loader = accelerator.prepareLoader(train, { batchSize, shuffle: true, seed: 0 });
  const graph = await model.graph(batchSize, gradientAccumulationSteps);

  const localSgd = new LocalSGD({ accelerator, model, localSgdSteps: 8, enabled: withLocalSgd }); // + line 1
  for (let index = 0; index < loader.batchesPerEpoch; index++) {
    const batch = loader.batch(0, index);
    accelerator.backward(graph, batch, index); // forward, loss and backward, accumulating gradients
    if (accelerator.isLastMicroBatch(index)) {
      await accelerator.reduceGradients(model); // a no-op while LocalSGD is enabled
      await accelerator.optimizerStep(optimizer, lr);
      await localSgd.step(); // + line 2
    }
  }
  await localSgd.close(); // averages once more
  if (accelerator.isMainProcess) await report(accelerator, graph);
  await channel?.done({});
  channel?.close();
}

async function report(accelerator: Accelerator, graph: MlpGraph): Promise<void> {
  const { test } = await loadMnist();
  const evalGraph = await graph.model.graph(500, 1, { training: false });
  const result = await evaluate(accelerator, evalGraph, test);
  console.log(`test accuracy ${(result.accuracy * 100).toFixed(1)}% on ${accelerator.adapterName}`);
  accelerator.close();
}

const args = process.argv.slice(2);
const version = args[args.indexOf('--version') + 1] ?? 'local-sgd';
const procs = args.includes('--procs') ? Number(args[args.indexOf('--procs') + 1]) : 1;
if (!['plain', 'accelerate', 'local-sgd'].includes(version) || !(procs >= 1)) {
  console.error('usage: node dist/examples/tutorial.js [--version plain|accelerate|local-sgd] [--procs N]');
  process.exit(2);
}
if (procs > 1 && !process.env[ENV.rank] && version !== 'plain') {
  // The launcher: start `procs` copies of this very file as workers.
  await launch({ procs, workerScript: fileURLToPath(import.meta.url), workerArgs: args.filter((a, i) => a !== '--procs' && args[i - 1] !== '--procs') });
} else if (version === 'plain') {
  await plainLoop();
} else {
  await acceleratedLoop(version === 'local-sgd');
}
process.exit(0);

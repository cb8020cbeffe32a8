// The library's public entry point: what a training script imports to run Local SGD the way
// Accelerate's tutorial does (examples/tutorial.ts uses nothing else). The CLI (dist/train.js)
// is one such script; modules not exported here may change without notice.

// The training loop's two objects, and the launcher that starts one process per rank.
export { Accelerator, type AcceleratorOptions, type CommTimes, type FlatModel } from './accelerate/accelerator.js';
export { LocalSGD, type LocalSgdOptions } from './accelerate/local-sgd.js';
export {
  launch, InterruptedError, WorkerFailedError, WorkerTimeoutError,
  type CoordinatorHandle, type LaunchOptions, type LaunchResult, type LinkOptions, type WorkerFailurePolicy, type WorkerLostEvent,
} from './comm/launch.js';
/** A worker's end of launch(): `WorkerChannel.fromEnvironment()` is undefined in a process launch() did not start. */
export { ENV, WorkerChannel } from './comm/worker-channel.js';

// The model interface: a second model is a file that implements Model and calls registerModel.
export { createModel, registerModel, type Model, type ModelGraph } from './nn/model.js';
export { Mlp, MlpGraph, MLP_INIT, type MlpConfig } from './nn/mlp.js';
export { Gpt, GptGraph, type GptConfig } from './nn/gpt.js';
export { initParameters } from './nn/init.js';
export { buildLayout, type ParameterLayout, type TensorLayout, type TensorRole } from './nn/layout.js';
export { createOptimizer, type Optimizer, type OptimizerConfig, type OptimizerKind } from './nn/optimizer.js';

// Data and evaluation.
export type { Dataset, DataSplit } from './data/dataset.js';
export { loadMnist, type MnistOptions } from './data/mnist.js';
export { makeSynthetic, type SyntheticOptions } from './data/synthetic.js';
export { loadDataFile, type DataFileOptions } from './data/user-data.js';
export { evaluate, type Evaluation } from './train/evaluate.js';

/** A loop without the Accelerator submits a step's dispatches itself (the tutorial's plain version). */
export { submitDispatches, type Dispatch } from './gpu/dispatch.js';

// Where a worker starts: fresh weights, a --init or --resume checkpoint, or, for a process that took
// over a lost rank, the last averaged parameters.
import type { Rejoin } from '../comm/member-channel.js';
import type { Model } from '../nn/model.js';
import type { Optimizer } from '../nn/optimizer.js';
import type { loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';

export interface StartingPoint {
  params: Float32Array;
  /** Optimizer steps already taken. */
  step: number;
}

/**
 * A process that took over a lost rank (--on-worker-failure respawn) starts from the last averaged
 * parameters, at the step they were averaged, with fresh optimizer state (zero moments): Local SGD
 * averages only parameters, so no worker's moments were ever shared, and the dead one's are gone.
 */
export function startingPoint(
  config: TrainConfig, model: Model, optimizer: Optimizer, rejoin: Rejoin | undefined, totalSteps: number,
  /** The platform's checkpoint reader (worker-platform.ts), for --resume and --init. */
  readCheckpoint: typeof loadCheckpoint,
): StartingPoint {
  if (rejoin && !config.localSgd) {
    throw new Error('a respawned worker can only rejoin a Local SGD run: synchronous mode never averages parameters, so there are none to rejoin from');
  }
  // Lost before the first averaging round: start exactly as at launch.
  if (!rejoin?.params) {
    const launch = launchPoint(config, model, optimizer, readCheckpoint);
    if (launch.step > totalSteps) {
      throw new Error(`--resume ${config.resume}: the checkpoint is at step ${launch.step}, past this run's last step ${totalSteps}; ` +
        `raise --max-steps (or --epochs) above ${launch.step} to train further, or use --init to start a new run from its weights`);
    }
    return launch;
  }
  if (rejoin.params.length !== model.layout.totalFloats) {
    throw new Error(`rejoin parameters hold ${rejoin.params.length} floats, but this model's flat buffer has ${model.layout.totalFloats}`);
  }
  // The server's init says at which step the average was taken (each parameter round carries it).
  // The --resume file is not read again: by now --checkpoint-every may have overwritten it with a later round.
  if (rejoin.step === undefined) throw new Error('rejoin parameters came without the step they were averaged at; the workers\' parameter rounds must carry it');
  return { params: rejoin.params, step: Math.min(rejoin.step, totalSteps) };
}

function launchPoint(config: TrainConfig, model: Model, optimizer: Optimizer, readCheckpoint: typeof loadCheckpoint): StartingPoint {
  if (config.resume) {
    const loaded = readCheckpoint(config.resume, model.layout, { withOptimizer: true, optimizerKind: optimizer.kind, optimizerStates: optimizer.stateNames });
    // A whole-run checkpoint has no worker optimizer state (it is local to each worker): workers
    // restart theirs, momentum and AdamW moments at zero with bias correction counted from this
    // restart, while the learning-rate schedule and the data continue from the checkpoint's step.
    if (loaded.optimizer) optimizer.loadState(loaded.optimizer.state, loaded.step);
    return { params: loaded.params, step: loaded.step };
  }
  if (config.init) return { params: readCheckpoint(config.init, model.layout, { withOptimizer: false }).params, step: 0 };
  return { params: model.initialParameters(config.seed), step: 0 };
}

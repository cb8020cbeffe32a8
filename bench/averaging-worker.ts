// The worker program of bench/averaging.ts (dist/bench/averaging-worker.js), started by launch():
// no GPU, no model, only the parameter-averaging round. Each round it fills its array with a
// rank-dependent value, all-reduces it, times the round and checks the mean it got back.
import { WorkerChannel } from '../src/comm/worker-channel.js';
import { AVERAGING_ENV, AveragingSettings, type AveragingWorkerSummary, type RoundTime } from './lib/averaging-settings.js';

async function main(): Promise<number> {
  const channel = await WorkerChannel.fromEnvironment();
  if (!channel) {
    console.error('dist/bench/averaging-worker.js is the worker of the averaging benchmark; run: node dist/bench/averaging.js');
    return 2;
  }
  return channel.serve(async () => {
    const settings = AveragingSettings.parse(JSON.parse(process.env[AVERAGING_ENV] ?? 'null'));
    const data = new Float32Array(settings.floats);
    const rounds: RoundTime[] = [];
    for (let round = 0; round <= settings.rounds; round++) {
      // Values differ per rank and per round, so a stale or unaveraged buffer cannot pass the check.
      data.fill(channel.rank + round);
      const start = performance.now();
      await channel.allReduceMean('params', data);
      const seconds = (performance.now() - start) / 1000;
      const expected = (channel.worldSize - 1) / 2 + round;
      for (const i of [0, settings.floats >> 1, settings.floats - 1]) {
        if (data[i] !== expected) throw new Error(`round ${round}: element ${i} averaged to ${data[i]}, expected ${expected}`);
      }
      const split = channel.stats().lastRound;
      if (round > 0) {
        rounds.push({
          seconds,
          ...(split ? { reduceSeconds: split.reduceSeconds, waitForPeersSeconds: split.waitForPeersSeconds, transferSeconds: split.transferSeconds } : {}),
        });
      }
    }
    const summary: AveragingWorkerSummary = { rank: channel.rank, rounds };
    return summary;
  });
}

main().then((code) => process.exit(code));

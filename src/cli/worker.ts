// dist/worker.js: one worker process, started by dist/train.js (the coordinator) with its rank,
// world size and channel in the environment and the run's config in LOCALSGD_CONFIG.
import { WorkerChannel } from '../comm/worker-channel.js';
import { trainWorker } from '../train/train-worker.js';
import { hooksFromEnvironment } from '../train/debug-hooks.js';

import { trainConfigSchema } from '../train/config.js';
import { CONFIG_ENV } from './config.js';

async function main(): Promise<number> {
  const channel = await WorkerChannel.fromEnvironment();
  if (!channel) {
    console.error('dist/worker.js is started by the coordinator; run: node dist/train.js --procs N');
    return 2;
  }
  channel.onStop(() => process.exit(130));
  // Ctrl-C on a terminal reaches the whole process group; the coordinator decides how to stop
  // (it saves the last averaged weights first), so workers leave SIGINT to it.
  process.on('SIGINT', () => {});
  return channel.serve(() => {
    const config = trainConfigSchema.parse(JSON.parse(process.env[CONFIG_ENV] ?? 'null'));
    return trainWorker(config, {
      channel,
      onLog: (record) => channel.log(record),
      onModel: (info) => channel.rank === 0 && channel.log({ kind: 'model', ...info }),
      hooks: hooksFromEnvironment(config),
    });
  });
}

main().then((code) => process.exit(code));

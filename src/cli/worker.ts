// dist/worker.js: one worker process, started by dist/train.js (the launcher) with the server's
// socket and its rank in the environment; the run's config arrives in the server's init message.
import { CoordinatorSilentError, WorkerChannel } from '../comm/worker-channel.js';
import type { ModelRecord } from '../train/records.js';
import { trainWorker } from '../train/train-worker.js';
import { channelFaultsFromEnvironment, channelTraceFromEnvironment, hooksFromEnvironment } from '../train/debug-hooks.js';
import { trainConfigSchema } from '../train/config.js';
import { nodePlatform } from '../train/node-platform.js';

async function main(): Promise<number> {
  const channel = await WorkerChannel.fromEnvironment();
  if (!channel) {
    console.error('dist/worker.js is started by the coordinator; run: node dist/train.js --procs N');
    return 2;
  }
  channel.onStop((why) => {
    // Told to stop, this process exits quietly: the coordinator knows why. A coordinator gone silent
    // reports nothing, so this worker says what happened.
    if (why instanceof CoordinatorSilentError) {
      process.stderr.write(`${why.message}\n`);
      process.exit(1);
    }
    process.exit(130);
  });
  channelFaultsFromEnvironment(channel);
  channelTraceFromEnvironment(channel);
  // Ctrl-C on a terminal reaches the whole process group; the coordinator decides how to stop
  // (it saves the last averaged weights first), so workers leave SIGINT to it.
  process.on('SIGINT', () => {});
  const code = await channel.serve(() => {
    const config = trainConfigSchema.parse(channel.config);
    return trainWorker(config, {
      platform: nodePlatform,
      channel,
      onLog: (record) => channel.log(record),
      // The coordinator parses this with ModelRecord: `satisfies` keeps the two in step. Every rank
      // says it: across machines each launcher hears from its own lowest rank (and says its adapter).
      onModel: (info) => channel.log({ kind: 'model', ...info } satisfies ModelRecord),
      hooks: hooksFromEnvironment(config),
    });
  });
  // A channel that broke cannot carry this worker's report: say here why it ends without done.
  if (code !== 0 && channel.brokenBy) process.stderr.write(`${channel.brokenBy.message}\n`);
  return code;
}

main().then((code) => process.exit(code));

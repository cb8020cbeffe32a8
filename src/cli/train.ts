// node dist/train.js [flags]: parse argv into a validated config, run, turn errors into a message
// and an exit code.
import { helpText, parseTrainArgs, UsageError } from './config.js';
import { run } from './run.js';
import { GpuError } from '../gpu/errors.js';
import { OutputPathError } from '../train/output-paths.js';
import { InterruptedError } from '../comm/launch.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText());
    return 0;
  }
  try {
    await run(parseTrainArgs(argv));
    // run() sets a failing exit code when training finished but something asked for was lost (a --save).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof OutputPathError) {
      console.error(`error: ${e.message}\n(see node dist/train.js --help)`);
      return 2;
    }
    if (e instanceof InterruptedError) {
      console.error(`stopped: ${e.message}`);
      return 130;
    }
    if (e instanceof GpuError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.DEBUG) console.error((e as Error).stack);
    return 1;
  }
}

// Exit explicitly: a Dawn instance that is still referenced would keep Node alive.
main(process.argv.slice(2)).then((code) => process.exit(code));

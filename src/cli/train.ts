// node dist/train.js [flags]: parse argv into a validated config, run, turn errors into a message
// and an exit code: 0 done, 1 failed, 2 refused before running, 128 + the signal's number when
// stopped by one (SIGHUP 129, SIGINT 130, SIGTERM 143), as a shell reports a process it killed.
import { helpText, parseTrainArgs, UsageError } from './config.js';
import { run } from './run.js';
import { GpuError } from '../gpu/errors.js';
import { OutputPathError } from '../train/output-paths.js';
import { InterruptedError, signalExitCode } from '../comm/launch.js';

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
      return signalExitCode(e.signal ?? 'SIGINT');
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

// Where a local worker process's output goes: its stdout to ours (rank 0's by default), its stderr
// echoed with a `[rank N]` prefix and kept as a short tail for the error that reports its loss.
import type { ChildProcess } from 'node:child_process';

const STDERR_TAIL_LINES = 20;
/** Dawn's notice about an adapter limit it lowered; identical in every worker. */
const ADAPTER_NOTICE = /^Warning: max\w+ artificially reduced from \d+ to \d+/;

export interface OutputOptions {
  /** Whose stdout reaches ours: rank 0's (default), everyone's (others prefixed `[rank N]`), or none. */
  stdout?: 'rank0' | 'all' | 'none';
  /** Echo workers' stderr, prefixed `[rank N]` (default true); the tail is kept either way. */
  echoStderr?: boolean;
}

export class WorkerOutput {
  private readonly echoedNotices = new Set<string>();

  constructor(private readonly options: OutputOptions) {}

  /** Relays `child`'s output; returns its stderr tail (the last lines, kept up to date). */
  attach(rank: number, child: ChildProcess): string[] {
    const tail: string[] = [];
    const stdout = this.options.stdout ?? 'rank0';
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout === 'none' || (stdout === 'rank0' && rank !== 0)) return;
      process.stdout.write(rank === 0 ? d : prefixLines(d.toString('utf8'), rank));
    });
    let partial = '';
    const echo = this.options.echoStderr ?? true;
    const addLine = (line: string) => {
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      if (echo && !this.alreadyEchoed(line)) process.stderr.write(`[rank ${rank}] ${line}\n`);
    };
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      lines.forEach(addLine);
    });
    child.stderr!.on('end', () => {
      if (partial) addLine(partial);
      partial = '';
    });
    return tail;
  }

  /**
   * Dawn prints the same adapter notice in every process (on lavapipe: limits "artificially reduced"
   * to fit its dynamic offset allocation); the first worker's copy says it, the others' are noise.
   * Each line still goes to its worker's stderr tail, for error reports.
   */
  private alreadyEchoed(line: string): boolean {
    if (!ADAPTER_NOTICE.test(line)) return false;
    if (this.echoedNotices.has(line)) return true;
    this.echoedNotices.add(line);
    return false;
  }
}

function prefixLines(text: string, rank: number): string {
  return text.replace(/^(?=.)/gm, `[rank ${rank}] `);
}

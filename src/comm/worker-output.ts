// Where a local worker process's output goes: its stdout to ours (rank 0's by default), its stderr
// echoed with a `[rank N]` prefix and kept as a short tail for the error that reports its loss.
// Driver notices known to be harmless are kept in the tail but echoed only with `verbose`, so that a
// line on the terminal is worth reading.
import type { ChildProcess } from 'node:child_process';

const STDERR_TAIL_LINES = 20;

/**
 * stderr lines that every healthy run prints and that say nothing about this run, each with why it
 * is harmless. Add a pattern only with that reason; anything not listed here is echoed.
 */
export const HARMLESS_DRIVER_NOTICES: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  {
    // Dawn's Limits.cpp (NormalizeLimits), printed while it discovers adapters, once per process.
    pattern: /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
    why: 'Dawn caps the dynamic-offset buffers per pipeline layout at 16 when a driver (lavapipe: 1000000) ' +
      'offers more; the kernels bind no buffer with a dynamic offset, so the cap never applies',
  },
];

export function isHarmlessDriverNotice(line: string): boolean {
  return HARMLESS_DRIVER_NOTICES.some((n) => n.pattern.test(line));
}

export interface OutputOptions {
  /** Whose stdout reaches ours: rank 0's (default), everyone's (others prefixed `[rank N]`), or none. */
  stdout?: 'rank0' | 'all' | 'none';
  /** Echo workers' stderr, prefixed `[rank N]` (default true); the tail is kept either way. */
  echoStderr?: boolean;
  /** Also echo HARMLESS_DRIVER_NOTICES (each distinct line once, from the first worker that prints it). */
  verbose?: boolean;
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
      if (echo && this.shouldEcho(line)) process.stderr.write(`[rank ${rank}] ${line}\n`);
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
   * A harmless notice is hidden unless verbose; then, since every worker prints the same one,
   * the first worker's copy says it and the others' are noise. Every other line is echoed.
   */
  private shouldEcho(line: string): boolean {
    if (!isHarmlessDriverNotice(line)) return true;
    if (!this.options.verbose || this.echoedNotices.has(line)) return false;
    this.echoedNotices.add(line);
    return true;
  }
}

function prefixLines(text: string, rank: number): string {
  return text.replace(/^(?=.)/gm, `[rank ${rank}] `);
}

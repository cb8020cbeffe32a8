// Runs dist/train.js as a child process, as a user would, and reads back its --metrics file.
import { spawn } from 'node:child_process';
import { readMetrics, type MetricsRecord } from '../../../src/train/metrics.js';

/**
 * Runs `trainJs` to completion and returns its checked metrics records; a run past `timeoutMs`
 * (train.js has its own worker timeout; this is the backstop) is stopped and reported.
 */
export async function trainRun(trainJs: string, args: string[], metrics: string, env: Record<string, string> = {}, timeoutMs = 600_000): Promise<MetricsRecord[]> {
  const all = [trainJs, ...args, '--metrics', metrics, '--quiet'];
  const child = spawn(process.execPath, all, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  // A hung run must not hang the benchmark.
  const killer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  // Stopping the benchmark stops its run too: train.js stops its workers on SIGTERM or SIGINT, and
  // left alone it would train on, unseen, on a machine someone wanted back.
  let stoppedBy: NodeJS.Signals | undefined;
  const forward = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    child.kill(signal);
  };
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
  process.off('SIGINT', forward).off('SIGTERM', forward);
  clearTimeout(killer);
  if (stoppedBy) throw new Error(`stopped by ${stoppedBy}: the benchmark and its run of ${trainJs} (code ${code})`);
  if (code !== 0) {
    throw new Error(`node ${all.join(' ')} exited with code ${code}; its output ended with:\n${output.split('\n').slice(-15).join('\n')}`);
  }
  return readMetrics(metrics);
}

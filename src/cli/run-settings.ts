// What every machine of a run must share, as the master compares it when a machine joins: the
// run's config less what is each machine's own (where it writes, how it talks to its GPU and the
// master, how patient it is), with data and weight files by content (their paths may differ).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { TrainConfig } from '../train/config.js';
import { FLAGS } from './config.js';

/** Settings each machine may choose for itself. */
const PER_MACHINE: ReadonlySet<keyof TrainConfig> = new Set([
  'nodeRank', 'masterAddr', 'save', 'metrics', 'quiet', 'verbose', 'joinTokenFile', 'insecure', 'tlsCert', 'tlsKey', 'tlsCa',
  'adapter', 'backend', 'workerTimeout', 'linkBandwidth', 'linkLatency', 'logEvery', 'rendezvousTimeout', 'checkpointEvery', 'saveEvery',
] as Array<keyof TrainConfig>);

/** Settings that name a file: compared by content. */
const FILES: ReadonlySet<keyof TrainConfig> = new Set(['data', 'evalData', 'text', 'valText', 'init', 'resume'] as Array<keyof TrainConfig>);
const BUILT_IN_DATA = new Set(['mnist', 'synthetic']);

/** Flag name → value as text, for every setting the machines must share. */
export function runSettings(config: TrainConfig): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(config) as Array<[keyof TrainConfig, unknown]>) {
    if (PER_MACHINE.has(key) || value === undefined) continue;
    const name = FLAGS.find((f) => f.key === key)?.flag ?? key;
    if (FILES.has(key) && !(key === 'data' && BUILT_IN_DATA.has(String(value)))) settings[`${name} (content)`] = contentOf(String(value));
    else settings[name] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return settings;
}

/** "sha256 1a2b…, 4096 bytes", or why it cannot be read (the worker then names the problem itself). */
function contentOf(path: string): string {
  try {
    if (!statSync(path).isFile()) return 'not a file';
    const bytes = readFileSync(path);
    return `sha256 ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}…, ${bytes.length} bytes`;
  } catch (error) {
    return `unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

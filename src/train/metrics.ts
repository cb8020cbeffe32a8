// The --metrics file: one JSON record a line (train, eval, worker-lost, then the summary), and its
// one reader, which checks every line against the schema that wrote it, so a changed format fails
// where it is read, naming the file and line, instead of as a wrong number further on.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { EvalRecord, TrainRecord, WorkerLostRecord } from './records.js';
import { RunSummary } from './summary.js';

export const MetricsRecord = z.discriminatedUnion('kind', [TrainRecord, EvalRecord, WorkerLostRecord, RunSummary]);
export type MetricsRecord = z.infer<typeof MetricsRecord>;
export type MetricsKind = MetricsRecord['kind'];
const KINDS = MetricsRecord.options.map((o) => o.shape.kind.value);

/** The records of JSON-lines text; `source` (a path) names where a bad line came from. */
export function parseMetricsLines(text: string, source = 'metrics'): MetricsRecord[] {
  const records: MetricsRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${source} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where} is not JSON (${(e as Error).message}); a metrics file holds one JSON record a line, as train.js --metrics writes it`);
    }
    const kind = (value as { kind?: unknown } | null)?.kind;
    if (typeof kind !== 'string' || !(KINDS as string[]).includes(kind)) {
      throw new Error(`${where}: unknown record kind ${JSON.stringify(kind)}; metrics records are ${KINDS.join(', ')}`);
    }
    const checked = MetricsRecord.safeParse(value);
    if (!checked.success) {
      throw new Error(`${where} is not a ${kind} record: ${checked.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    }
    records.push(checked.data);
  });
  return records;
}

/** Every record of a metrics file (train.js --metrics), checked. */
export function readMetrics(path: string): MetricsRecord[] {
  return parseMetricsLines(readFileSync(path, 'utf8'), path);
}

/** The records of one kind, typed as such. */
export function recordsOf<K extends MetricsKind>(records: readonly MetricsRecord[], kind: K): Array<Extract<MetricsRecord, { kind: K }>> {
  return records.filter((r): r is Extract<MetricsRecord, { kind: K }> => r.kind === kind);
}

/** The run's summary: the last record of a finished run's metrics file. */
export function summaryOf(records: readonly MetricsRecord[], source = 'metrics'): RunSummary {
  const last = records.at(-1);
  if (last?.kind !== 'summary') {
    throw new Error(`${source}: the last record is ${last ? `a ${last.kind} record` : 'missing'}, not the summary; the run did not finish`);
  }
  return last;
}

// What every benchmark report carries besides its numbers: the machine it ran on, and Markdown
// tables built from the same records as the JSON.
import { cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}, load average ${m.loadAverage.join(' ')}`;
}

export function markdownTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: readonly ('l' | 'r')[]): string {
  const rule = headers.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : '---'));
  return [headers, rule, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** 1234567 → '1.23 MB' (decimal units, as link rates are quoted). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  for (const [div, unit] of [[1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']] as const) {
    if (Math.abs(bytes) >= div) return `${(bytes / div).toPrecision(3)} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}

// How the report writes numbers and names, shared by its tables and figures.
import type { Report, RunRecord } from './aggregate.js';

export const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '–');
export const secs = (x: number | null) => (x === null ? 'not reached' : Number.isFinite(x) ? x.toFixed(2) : '–');
export const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || !(b > 0) ? '–' : `${(a / b).toFixed(2)}×`;

/** '5.19 (3.40–6.12)' when there were repeats. */
export function withRange(value: number, all: number[]): string {
  return all.length < 2 ? secs(value) : `${secs(value)} (${secs(Math.min(...all))}–${secs(Math.max(...all))})`;
}

export function runsOf(report: Report, group: string, link: string): RunRecord[] {
  return report.runs.filter((r) => r.group === group && r.link === link);
}

export function linkText(report: Report, name: string): string {
  const l = report.settings.links.find((x) => x.name === name)!;
  return l.bandwidth === 'off' ? 'none (local Unix socket, no simulation)' : `${l.bandwidth}, ${l.latency} one-way latency`;
}

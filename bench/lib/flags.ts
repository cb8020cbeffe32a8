// Flag reading for the benchmark scripts: argv → a raw record that each script's zod schema
// then validates, so every flag gets the same errors and --help.
import { z } from 'zod';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  flag: string;
  kind: 'boolean' | 'value';
  help: string;
}

/** '--only-links' → 'onlyLinks'. */
export function flagKey(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function readFlags(argv: readonly string[], specs: readonly FlagSpec[]): Record<string, string | boolean> {
  const raw: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = specs.find((s) => s.flag === name);
    if (!spec) throw new UsageError(`unknown flag "${arg}"; flags are ${specs.map((s) => s.flag).join(', ')}`);
    if (spec.kind === 'boolean') {
      raw[flagKey(spec.flag)] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${spec.flag} needs a value (${spec.help})`);
    raw[flagKey(spec.flag)] = value;
  }
  return raw;
}

export function usage(command: string, about: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage: ${command} [flags]`, '', about, ''];
  for (const s of specs) lines.push(`  ${(s.kind === 'value' ? `${s.flag} <value>` : s.flag).padEnd(24)} ${s.help}`);
  return lines.join('\n');
}

/** Runs a benchmark's main, turning a UsageError into exit code 2 and any other error into 1. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof UsageError ? `${e.message}\nsee --help` : e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}

/** A flag holding a comma-separated subset of `all` (e.g. --links 100mbit,1gbit); absent: undefined. */
export const commaSubset = (all: readonly string[], flag: string) => z.string().optional().transform((s, ctx) => {
  if (s === undefined) return undefined;
  const names = s.split(',').map((n) => n.trim()).filter(Boolean);
  const bad = names.filter((n) => !all.includes(n));
  if (bad.length || names.length === 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${flag} takes a comma-separated subset of ${all.join(',')} (got "${s}")` });
    return z.NEVER;
  }
  return names;
});

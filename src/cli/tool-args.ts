// Flag parsing for the language-model tools (sample.js, eval.js), in train.js's manner: `--flag value`
// or `--flag=value`, each flag once, every value checked by one zod schema, and every mistake a
// UsageError (exit 2) that names the flag.
import { z } from 'zod';
import { UsageError } from './usage-error.js';

export interface ToolFlag {
  flag: string;
  /** The schema's key. */
  key: string;
  help: string;
  /** A switch: present means true; it takes no value. */
  boolean?: true;
}

/** A number as users write decimals: digits, a point, an exponent; not '', hex, 'Infinity' or '1_000' (as train.js). */
const PLAIN_DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

export const decimalFlag = (flag: string) => z.string().transform((v, ctx) => {
  if (!PLAIN_DECIMAL.test(v)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${flag} must be a plain decimal number such as 8, 0.05 or 1e-3 (got "${v}")` });
    return z.NEVER;
  }
  return Number(v);
});

export const wholeNumberFlag = (flag: string, min: number, max: number) => decimalFlag(flag).refine(
  (n) => Number.isInteger(n) && n >= min && n <= max,
  (n) => ({ message: `${flag} must be a whole number from ${min} to ${max} (got ${n})` }),
);

export const pathFlag = (flag: string) => z.string().min(1, { message: `${flag} needs a file name` });

/** Parses argv (without node and the script) into the schema's output. */
export function parseToolArgs<T>(tool: string, flags: readonly ToolFlag[], schema: z.ZodType<T, z.ZodTypeDef, unknown>, argv: readonly string[]): T {
  const raw: Record<string, unknown> = {};
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [name, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const flag = flags.find((f) => f.flag === name);
    if (!flag) {
      const close = closestFlag(name, flags);
      throw new UsageError(`${tool}: unknown ${name.startsWith('-') ? 'flag' : 'argument'} "${arg}"${close ? ` (did you mean ${close.flag}?)` : ''}`);
    }
    const previous = given.get(flag.key);
    if (previous !== undefined) throw new UsageError(`${tool}: ${flag.flag} is given twice (${previous} and ${arg}); give each flag once`);
    given.set(flag.key, arg);
    if (flag.boolean) {
      if (inline !== undefined) throw new UsageError(`${tool}: ${flag.flag} takes no value (got "${arg}")`);
      raw[flag.key] = true;
      continue;
    }
    // A prompt may start with "--", so only a missing value is refused: `--prompt --tokens` would be a prompt.
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${tool}: ${flag.flag} needs a value (${flag.help})`);
    raw[flag.key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((issue) => {
      const flag = flags.find((f) => f.key === issue.path[0])?.flag ?? String(issue.path[0]);
      if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') return `${tool}: ${flag} is required`;
      return `${tool}: ${issue.message.startsWith(flag) ? issue.message : `${flag}: ${issue.message}`}`;
    }).join('\n'));
  }
  return parsed.data;
}

/** The flag sharing the longest start with `name` (at least "--" and two letters), for "did you mean". */
function closestFlag(name: string, flags: readonly ToolFlag[]): ToolFlag | undefined {
  const shared = (f: ToolFlag) => {
    let n = 0;
    while (n < name.length && name[n] === f.flag[n]) n++;
    return n;
  };
  const best = flags.reduce<ToolFlag | undefined>((b, f) => (b === undefined || shared(f) > shared(b) ? f : b), undefined);
  return best !== undefined && shared(best) >= 4 ? best : undefined;
}

/** Usage lines, then each flag with its help and its default (from the schema parsed with only the required keys). */
export function toolHelp(usage: readonly string[], flags: readonly ToolFlag[], defaults: Record<string, unknown>): string {
  const lines = [...usage, ''];
  for (const f of flags) {
    const shown = f.boolean ? f.flag : `${f.flag} <value>`;
    const d = defaults[f.key];
    lines.push(`  ${shown.padEnd(24)} ${f.help}${d === undefined ? '' : ` (default: ${JSON.stringify(d)})`}`);
  }
  lines.push(`  ${'--help'.padEnd(24)} show this help`);
  return lines.join('\n');
}

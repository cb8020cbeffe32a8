// train.js refuses a flag given twice, so tests that vary one setting of a shared command line
// replace its value instead of appending a second copy.

/**
 * `base` with each flag of `overrides` set: a flag already in `base` takes the new value where it
 * stands; others are appended. A flag followed by a token that is not a flag has that value.
 */
export function withFlags(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (let i = 0; i < overrides.length; i++) {
    const flag = overrides[i]!;
    const hasValue = i + 1 < overrides.length && !overrides[i + 1]!.startsWith('--');
    const value = hasValue ? overrides[++i]! : undefined;
    const at = out.indexOf(flag);
    if (at < 0) out.push(flag, ...(value === undefined ? [] : [value]));
    else if (value !== undefined) out[at + 1] = value;
  }
  return out;
}

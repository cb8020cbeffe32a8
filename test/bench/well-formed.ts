// A small well-formedness check for the SVG the benchmarks write: balanced tags, quoted
// attributes, escaped text, and no NaN or Infinity leaking into coordinates.
export function svgProblems(svg: string): string[] {
  const problems: string[] = [];
  if (!svg.trimStart().startsWith('<svg')) problems.push('does not start with <svg');
  if (!svg.trimEnd().endsWith('</svg>')) problems.push('does not end with </svg>');
  if (/NaN|Infinity|undefined/.test(svg)) problems.push(`holds ${/NaN|Infinity|undefined/.exec(svg)![0]}`);
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const text = svg.slice(at, m.index);
    if (/[<>]|&(?!(amp|lt|gt|quot|apos);)/.test(text)) problems.push(`unescaped text ${JSON.stringify(text.slice(0, 40))}`);
    at = m.index + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}>`);
    } else if (!selfClosing) {
      stack.push(name!);
    }
  }
  if (/[<>]/.test(svg.slice(at).trim())) problems.push('a tag that does not parse (unquoted attribute?)');
  if (stack.length) problems.push(`unclosed <${stack.join('>, <')}>`);
  return problems;
}

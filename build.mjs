// Bundles every entry point into dist/ so that dist/ runs with plain Node:
// WGSL files are inlined as text, TypeScript is stripped, npm packages stay external.
// dist/browser/ holds the kernel tests bundled for a page (scripts/build-browser.mjs).
import { build } from 'esbuild';
import { readdirSync, rmSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildBrowser } from './scripts/build-browser.mjs';

const tsFiles = (dir, suffix = '.ts') =>
  existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f)) : [];

/** dist path (without .js) -> source file */
const entryPoints = {
  train: 'src/cli/train.ts',
  worker: 'src/cli/worker.ts',
  sample: 'src/cli/sample.ts',
  eval: 'src/cli/eval.ts',
};
// bench/lib/ holds the benchmarks' shared modules, bundled into each script that imports them.
for (const f of tsFiles('bench').filter((f) => !f.startsWith(join('bench', 'lib', '/')))) entryPoints[f.replace(/\.ts$/, '')] = f;
for (const f of tsFiles('test', '.test.ts')) entryPoints[f.replace(/\.ts$/, '')] = f;
// Programs that tests start as child processes (fake workers and the like).
for (const f of tsFiles('test').filter((f) => f.includes('fixtures'))) entryPoints[f.replace(/\.ts$/, '')] = f;
// The uvu stand-in of the browser build, which test/browser/node-kernel-count.ts also loads in Node.
entryPoints['test/browser/uvu-recorder'] = 'test/browser/uvu-recorder.ts';
for (const f of tsFiles('examples')) entryPoints[f.replace(/\.ts$/, '')] = f;
for (const [out, src] of Object.entries(entryPoints)) if (!existsSync(src)) delete entryPoints[out];

// Build beside dist/ and swap it in only on success, so a failed build leaves the last good one.
const staging = `dist.building-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
try {
  await build({
  entryPoints,
  outdir: staging,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  loader: { '.wgsl': 'text' },
  sourcemap: 'linked',
  logLevel: 'warning',
  });
  await buildBrowser(join(staging, 'browser'));
} catch {
  rmSync(staging, { recursive: true, force: true });
  process.exit(1); // esbuild has printed the errors
}
rmSync('dist', { recursive: true, force: true });
renameSync(staging, 'dist');

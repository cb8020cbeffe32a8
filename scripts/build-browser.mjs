// The browser build (dist/browser/), which build.mjs runs beside the Node one: the kernel tests
// bundled for a page, so that test/browser/kernels-in-chromium.test.ts runs them in Chromium against
// the same float64 references and bounds as in Node, and the page side of bench/browser-matmul.ts.
//  - A module X.ts that has a twin X.browser.ts is replaced by the twin (the test device, env reading).
//  - `uvu` becomes test/browser/uvu-recorder.ts (same API; records, and runs when the page asks).
//  - Importing `webgpu` or a Node built-in is a build error naming the importer: it would fail
//    only later, in the page, with a less helpful message.
// Code splitting keeps one instance of shared modules (the recorder, the test device) across files.
import { build } from 'esbuild';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';

const twins = {
  name: 'browser-twins',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const twin = resolve(args.resolveDir, args.path.replace(/\.js$/, '.browser.ts'));
      return existsSync(twin) ? { path: twin } : undefined;
    });
  },
};

const uvuRecorder = {
  name: 'uvu-recorder',
  setup(b) {
    b.onResolve({ filter: /^uvu$/ }, () => ({ path: resolve('test/browser/uvu-recorder.ts') }));
  },
};

const nodeOnly = new Set(['webgpu', ...builtinModules]);
const noNodeModules = {
  name: 'no-node-modules',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (!args.path.startsWith('node:') && !nodeOnly.has(args.path)) return undefined;
      const importer = relative(process.cwd(), args.importer);
      return {
        errors: [{
          text: `${importer} imports "${args.path}", which a browser page lacks. Give ${importer} a ` +
            `${importer.replace(/\.ts$/, '.browser.ts')} twin without it, or keep it out of the browser build.`,
        }],
      };
    });
  },
};

/** The three rules above, as esbuild plugins (test/browser/build-browser.test.ts checks them). */
export const browserPlugins = [twins, uvuRecorder, noNodeModules];

/** Builds the browser bundle into `outdir`; throws (esbuild has printed why) on failure. */
export async function buildBrowser(outdir) {
  const kernels = readdirSync('test/kernels').filter((f) => f.endsWith('.test.ts'));
  const entryPoints = { harness: 'test/browser/harness.ts', 'bench-matmul': 'bench/lib/browser-matmul-page.ts' };
  for (const f of kernels) entryPoints[join('kernels', f.replace(/\.ts$/, ''))] = join('test/kernels', f);
  await build({
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    loader: { '.wgsl': 'text' },
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: browserPlugins,
  });
  copyFileSync('test/browser/harness.html', join(outdir, 'harness.html'));
  await buildTabPage(join(outdir, 'tab'));
}

/**
 * The page a volunteer opens (src/browser/tab.html and its program): one self-contained script, since
 * the master serves exactly two files (src/tabs/tab-site.ts), minified for a volunteer's download.
 */
async function buildTabPage(outdir) {
  await build({
    entryPoints: { tab: 'src/browser/tab-main.ts' },
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    loader: { '.wgsl': 'text' },
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [twins, noNodeModules],
  });
  copyFileSync('src/browser/tab.html', join(outdir, 'tab.html'));
}

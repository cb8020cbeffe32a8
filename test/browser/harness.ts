// The page side of test/browser/kernels-in-chromium.test.ts: loads one bundled kernel test file at
// a time (dist/browser/kernels/<name>.test.js, built from test/kernels/ with uvu swapped for
// uvu-recorder.ts), runs what it recorded, and hands the results to Node through `window.kernelTests`.
import { recordedTestCount, runRecorded, type TestResult } from './uvu-recorder.js';
import { closeTestGpu, testGpu } from '../helpers/gpu.js';
import { formatAdapter } from '../../src/gpu/context.js';

export interface FileResult {
  file: string;
  /** Tests the file recorded when loaded; every one of them has a result below. */
  recorded: number;
  results: TestResult[];
}

export interface KernelTestsApi {
  /** The adapter the page's tests get (opens the test device, then closes it). */
  adapter(): Promise<string>;
  runFile(file: string): Promise<FileResult>;
}

const api: KernelTestsApi = {
  async adapter() {
    const ctx = await testGpu();
    const name = formatAdapter(ctx.info);
    closeTestGpu();
    return name;
  },
  async runFile(file) {
    if (!/^[a-z0-9-]+$/.test(file)) throw new Error(`kernel test file names are lower-case words and dashes (got "${file}")`);
    // A URL, not a literal path, so that esbuild leaves the import to the page.
    await import(new URL(`./kernels/${file}.test.js`, import.meta.url).href);
    const recorded = recordedTestCount();
    return { file, recorded, results: await runRecorded() };
  },
};

(globalThis as unknown as { kernelTests: KernelTestsApi }).kernelTests = api;

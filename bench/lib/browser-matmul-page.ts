// The page side of bench/browser-matmul.ts, bundled into dist/browser/bench-matmul.js: measures
// matmul on the page's adapter (?featureLevel= as for the kernel tests) and hands the figures back.
import { openBrowserGpu } from '../../src/gpu/browser-device.js';
import { formatAdapter } from '../../src/gpu/context.js';
import { measureMatmul, type MatmulMeasurement } from './matmul-gflops.js';

export interface PageMatmulResult {
  adapter: string;
  results: MatmulMeasurement[];
}

export async function runMatmul(featureLevel: 'core' | 'compatibility', sizes: number[], reps: number): Promise<PageMatmulResult> {
  const ctx = await openBrowserGpu({ featureLevel });
  try {
    const results: MatmulMeasurement[] = [];
    for (const size of sizes) results.push(await measureMatmul(ctx, size, reps));
    return { adapter: formatAdapter(ctx.info), results };
  } finally {
    ctx.close();
  }
}

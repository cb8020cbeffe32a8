// Types of build-browser.mjs for the TypeScript that imports it (test/browser/build-browser.test.ts).
import type { Plugin } from 'esbuild';

export declare const browserPlugins: Plugin[];
export declare function buildBrowser(outdir: string): Promise<void>;

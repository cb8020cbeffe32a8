// A run of 2 worker processes and 2 browser tabs (real headless Chromium) on MNIST with Local SGD:
// it learns, every worker ends with the same bits, and it lands where 4 processes land. Strangers
// (a wrong token, a browser without WebGPU) do not get in and do not disturb it.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ParameterLayout } from '../../src/nn/layout.js';
import { mlpLayout } from '../../src/nn/mlp.js';
import { within } from '../comm/fixtures/procs.js';
import { browserAdapterFromEnv, launchChromium } from '../helpers/chromium.js';
import { runTrain } from '../helpers/processes.js';
import { openTab, startTabRun, tabFact, tabStatus, waitForTabState, waitForTabStep } from '../helpers/tab-run.js';
import { readWeights, tempDir } from '../helpers/train-run.js';

const test = suite('browser tabs as workers');
/** Where tests keep what a person should look at: the page mid-run. */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const dir = tempDir();
let browser: Browser;
let withoutWebGpu: Browser;

test.before(async () => {
  browser = await launchChromium(browserAdapterFromEnv());
  withoutWebGpu = await launchChromium(browserAdapterFromEnv(), { webgpu: false });
});
test.after(async () => {
  await browser?.close();
  await withoutWebGpu?.close();
  dir.remove();
});

const RUN = ['--local-sgd-steps', '8', '--seed', '3', '--log-every', '10', '--quiet'];

/** The flat parameter buffer a worker holds, rebuilt from a checkpoint and the run's layout. */
function flatDigest(path: string, layout: ParameterLayout): string {
  const { byName } = readWeights(path);
  const flat = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) flat.set(byName.get(t.name)!, t.offset);
  return createHash('sha256').update(new Uint8Array(flat.buffer)).digest('hex');
}

const accuracyOf = (stdout: string) => Number(/test accuracy ([\d.]+)%/.exec(stdout)?.[1]);

test('2 processes + 2 tabs on MNIST (K=8): ≥ 90 % test accuracy, all four hold the same bits, close to a 4-process run; strangers stay out', async () => {
  const save = dir.file('mixed.safetensors');
  const run = startTabRun(['--procs', '2', '--browser-workers', '2', ...RUN, '--save', save], { LOCALSGD_SAVE_EVERY_RANK: '1' });
  const link = await within(60_000, run.link, 'the join link');

  // A stranger with another token, and a browser without WebGPU: neither takes a seat.
  const stranger = await openTab(browser, link.replace(/#token=[0-9a-f]+/, `#token=${'ab'.repeat(32)}`));
  assert.is(await waitForTabState(stranger, ['refused'], 30_000), 'refused');
  const noGpu = await openTab(withoutWebGpu, link);
  await waitForTabState(noGpu, ['no-webgpu'], 30_000);
  assert.match(await tabStatus(noGpu), /WebGPU/);

  const tabs = [await openTab(browser, link), await openTab(browser, link)];
  for (const tab of tabs) await waitForTabState(tab, ['training', 'done'], 90_000);
  await waitForTabStep(tabs[0]!, 60, 120_000);
  mkdirSync(ARTIFACTS, { recursive: true });
  await tabs[0]!.screenshot({ path: join(ARTIFACTS, 'tab-mid-run.png') });

  const finished = await within(300_000, run.done, 'the mixed run');
  assert.is(finished.code, 0, `the run failed:\n${finished.stderr}`);
  for (const tab of tabs) assert.is(await waitForTabState(tab, ['done', 'failed'], 30_000), 'done', await tabStatus(tab));
  assert.match(finished.stderr, /refused a connection before its handshake: .*wrong proof/, 'the stranger is reported');
  assert.match(finished.stderr, /rank 2: a browser tab joined: tab at 127\.0\.0\.1/);
  const accuracy = accuracyOf(finished.stdout);
  assert.ok(accuracy >= 90, `test accuracy ${accuracy}%`);

  // The closing average leaves every worker with the same bits: the processes' saved weights and the tabs' checksums.
  const layout = mlpLayout([784, 256, 10]);
  const digests = [flatDigest(`${save}.rank0`, layout), flatDigest(`${save}.rank1`, layout)];
  for (const tab of tabs) digests.push((await tabFact(tab, 'Final weights (SHA-256)')) ?? 'none shown');
  assert.equal(digests, digests.map(() => digests[0]), 'every worker\'s final weights');
  assert.is(flatDigest(save, layout), digests[0], 'the saved model is what the workers hold');

  // The same run in 4 processes. Chromium compiles the WGSL through GLSL and ANGLE, Node's Dawn
  // straight to SPIR-V; on GL ES over lavapipe both end in the same LLVM for the same CPU, and the
  // weights come out bit for bit equal (measured: relative difference 0). On another adapter the
  // compilers may fuse or reorder float32 operations (a*b+c as one FMA or two roundings;
  // SwiftShader flushes subnormals), so the last bits may differ; 186 SGD steps carry such
  // differences on without growing them past a few parts in a thousand of the weights' norm.
  const reference = dir.file('processes.safetensors');
  const four = await runTrain(['--procs', '4', ...RUN, '--save', reference]);
  assert.is(four.code, 0, four.stderr);
  const [a, b] = [readWeights(save).all, readWeights(reference).all];
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  const relative = Math.sqrt(diff / norm);
  const bound = browserAdapterFromEnv() === 'gles-lavapipe' ? 0 : 5e-3;
  console.log(`  mixed vs 4 processes: relative L2 difference of the final weights ${relative.toExponential(2)} (bound ${bound}); accuracy ${accuracy}% vs ${accuracyOf(four.stdout)}%`);
  assert.ok(relative <= bound, `the final weights differ from a 4-process run by ${relative.toExponential(2)} of their norm (bound ${bound})`);
});

test.run();

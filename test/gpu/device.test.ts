import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openGpu } from '../../src/gpu/device.js';
import { GpuError } from '../../src/gpu/errors.js';
import { createBindGroup, submitDispatches } from '../../src/gpu/dispatch.js';
import { createStorage } from '../../src/gpu/buffers.js';
import { closeTestGpu, testGpu } from '../helpers/gpu.js';

const test = suite('gpu device');

test('the device survives forced garbage collection between submits (Dawn instance kept alive)', () => {
  const script = fileURLToPath(new URL('./fixtures/gc-between-submits.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, `exit ${r.status} signal ${r.signal}\n${r.stderr}`);
  assert.match(r.stdout, /ok/);
});

test('a process that opens three devices prints Dawn\'s adapter notices once, not once per device', () => {
  const script = fileURLToPath(new URL('./fixtures/open-devices.js', import.meta.url));
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, `exit ${r.status} signal ${r.signal}\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines, [...new Set(lines)], `each line once:\n${r.stderr}`);
  // On lavapipe Dawn prints two limits it lowered; seeing them proves the count above counted something.
  if (/llvmpipe|lavapipe/.test(r.stdout)) assert.is(lines.filter((l) => /artificially reduced/.test(l)).length, 2, r.stderr);
});

test('an adapter that does not exist gives an error naming it and the setup command', async () => {
  try {
    const ctx = await openGpu({ adapter: 'no-such-adapter-xyz' });
    ctx.close();
    assert.unreachable('must not find an adapter');
  } catch (e) {
    assert.instance(e, GpuError);
    assert.match((e as Error).message, /no-such-adapter-xyz/);
    assert.match((e as Error).message, /setup-vulkan\.sh/);
  }
});

test('with no Vulkan driver at all, train.js exits non-zero naming the missing driver and the install command', () => {
  const train = fileURLToPath(new URL('../../train.js', import.meta.url));
  const r = spawnSync(process.execPath, [train, '--procs', '1', '--max-steps', '1'], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent-icd.json' },
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /No WebGPU adapter was found\. Dawn needs a Vulkan driver/);
  assert.match(r.stderr, /bash scripts\/setup-vulkan\.sh/);
});

test('a WGSL error fails pipeline creation with the shader file, line and entry point named', async () => {
  const ctx = await testGpu();
  const shader = { file: 'broken.wgsl', code: '@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }' };
  try {
    await ctx.pipelines.get({ shader, entry: 'main' });
    assert.unreachable('a broken shader must not compile');
  } catch (e) {
    assert.instance(e, GpuError);
    assert.match((e as Error).message, /shaders\/broken\.wgsl/);
  }
});

test('a validation error in a submit surfaces as a thrown error at the next check', async () => {
  const ctx = await testGpu();
  const shader = {
    file: 'copy.wgsl',
    code: '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1) fn main() { a[0] = 1.0; }',
  };
  const pipeline = await ctx.pipelines.get({ shader, entry: 'main' });
  const buffer = createStorage(ctx, 'a', 16);
  const bindGroup = createBindGroup(ctx, 'ok', pipeline, [buffer]);
  buffer.destroy(); // using a destroyed buffer in a submit is a validation error
  submitDispatches(ctx, 'use of a destroyed buffer', [{ label: 'copy', pipeline, bindGroup, workgroups: [1, 1, 1] }]);
  await ctx.device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 50));
  assert.throws(() => ctx.check('after the bad submit'), /GPU error/);
  ctx.check('a second check'); // the error is reported once
});

test.after(() => closeTestGpu());
test.run();

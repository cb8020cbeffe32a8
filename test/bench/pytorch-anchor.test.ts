// The benchmarks' PyTorch anchor: the OpenBLAS core is chosen from the CPU's flags where detection
// falls short, and what the PyTorch process really ran on is read from it, never assumed.
// Needs python3-torch and OpenBLAS (scripts/setup-bench.sh, which `npm run setup` and CI run).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  benchScript, bestOpenblasCore, coreRank, cpuFlags, describeAnchor, OPENBLAS_CORES, runAnchorScript, setUpPytorchAnchor, threadSettings, type PytorchAnchor,
} from '../../bench/lib/pytorch-anchor.js';

const test = suite('PyTorch anchor');
const SETUP = 'bash scripts/setup-bench.sh';

function anchorOrFail(options: Parameters<typeof setUpPytorchAnchor>[0] = {}): PytorchAnchor {
  const setUp = setUpPytorchAnchor(options);
  if ('missing' in setUp) throw new Error(`${setUp.missing}; these tests need the benchmarks' anchor: ${SETUP}`);
  return setUp.anchor;
}

test('the best OpenBLAS core follows the CPU flags: SSE3 only, AVX2+FMA, AVX-512, AVX-512 with bf16', () => {
  assert.is(bestOpenblasCore(new Set(['pni'])), 'Prescott');
  assert.is(bestOpenblasCore(new Set(['pni', 'avx', 'avx2', 'fma'])), 'Haswell');
  assert.is(bestOpenblasCore(new Set(['avx2', 'fma', 'avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'])), 'SkylakeX');
  assert.is(bestOpenblasCore(new Set(['avx2', 'fma', 'avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_bf16'])), 'Cooperlake');
  // AVX-512F alone (no BW/VL) is not enough for SkylakeX's kernels.
  assert.is(bestOpenblasCore(new Set(['avx2', 'fma', 'avx512f'])), 'Haswell');
  assert.is(bestOpenblasCore(new Set()), undefined);
});

test('core ranks order the list, resolve aliases (Zen runs Haswell kernels) and mark unknown names', () => {
  OPENBLAS_CORES.forEach((c, i) => assert.is(coreRank(c.core), i));
  assert.is(coreRank('Zen'), coreRank('Haswell'));
  assert.is(coreRank('NoSuchCore'), -1);
});

test('cpu flags are read from the flags line of /proc/cpuinfo', () => {
  const flags = cpuFlags('processor\t: 0\nflags\t\t: fpu pni avx2 fma\nbugs\t\t: none\n');
  assert.equal([...flags].sort(), ['avx2', 'fma', 'fpu', 'pni']);
});

test('thread settings: one thread first, then more torch threads, more OpenBLAS threads and both', () => {
  assert.equal(threadSettings(1), [{ torch: 1, blas: 1 }]);
  assert.equal(threadSettings(2), [{ torch: 1, blas: 1 }, { torch: 2, blas: 1 }, { torch: 1, blas: 2 }, { torch: 2, blas: 2 }]);
});

test('on this machine the anchor is OpenBLAS on the best core the CPU supports, read back from the PyTorch process', () => {
  const anchor = anchorOrFail();
  assert.is(anchor.blas.vendor, 'openblas', `PyTorch runs on ${anchor.blas.vendor} BLAS (${anchor.blas.library}); ${SETUP}`);
  assert.match(anchor.blas.library ?? '', /openblas/);
  const best = bestOpenblasCore(cpuFlags());
  assert.ok(best, 'this CPU supports at least one OpenBLAS core');
  assert.ok(coreRank(anchor.blas.core!) >= coreRank(best!), `runs ${anchor.blas.core}, the CPU supports ${best}`);
  assert.ok(anchor.proper, anchor.label);
  assert.match(anchor.label, /^PyTorch [\d.]+\w* \+ OpenBLAS [\d.]+ \(\w+\)$/);
  assert.ok(anchor.sgemmGflops1024 > 0);
});

test('an OpenBLAS that detects a weaker core than the CPU supports is corrected, and the note says so', () => {
  const anchor = anchorOrFail({ simulateDetectedCore: 'Prescott' });
  const best = bestOpenblasCore(cpuFlags())!;
  assert.is(anchor.detectedCore, 'Prescott');
  assert.is(anchor.blas.core, best, 'the process reports the corrected core');
  assert.is(anchor.env.OPENBLAS_CORETYPE, best);
  assert.ok(anchor.proper);
  assert.ok(anchor.notes.some((n) => n.includes('detected Prescott') && n.includes(best)), anchor.notes.join('; '));
});

test('a reference BLAS or a fallback core is named as such, never as plain PyTorch', () => {
  const config = 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH Prescott';
  const fallback = describeAnchor('1.13.1', { vendor: 'openblas', core: 'Prescott', config }, 'SkylakeX');
  assert.not.ok(fallback.proper);
  assert.is(fallback.label, 'PyTorch 1.13.1 + OpenBLAS 0.3.21 on a fallback core (Prescott; this CPU supports SkylakeX)');
  const reference = describeAnchor('1.13.1', { vendor: 'reference', core: null, config: null }, 'SkylakeX');
  assert.not.ok(reference.proper);
  assert.match(reference.label, /^PyTorch 1\.13\.1 on the netlib reference BLAS \(not a fair anchor: apt-get install python3-torch libopenblas0-pthread/);
  assert.ok(describeAnchor('1.13.1', { vendor: 'openblas', core: 'SkylakeX', config }, 'SkylakeX').proper);
  // Zen runs Haswell's kernels: on an AVX-512 CPU that is a fallback too.
  assert.not.ok(describeAnchor('1.13.1', { vendor: 'openblas', core: 'Zen', config }, 'SkylakeX').proper);
});

test('the MLP script runs with the threads it was given and says which BLAS core it used', () => {
  const anchor = anchorOrFail();
  const out = runAnchorScript(anchor, benchScript('pytorch_mlp.py'), ['16', '160'], { torch: 1, blas: 1 }) as {
    torchThreads: number; blas: { core: string; blasThreads: number }; results: { batchSize: number; samplesPerSecond: number }[];
  };
  assert.is(out.torchThreads, 1);
  assert.is(out.blas.blasThreads, 1);
  assert.is(out.blas.core, anchor.blas.core);
  assert.is(out.results[0]!.batchSize, 16);
  assert.ok(out.results[0]!.samplesPerSecond > 0);
});

test.run();

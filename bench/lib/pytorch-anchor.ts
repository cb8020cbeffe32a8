// The PyTorch anchor of a benchmark, configured as a PyTorch user would want it on this CPU and
// described from what its process really ran on. Debian's python3-torch calls libblas.so.3: the
// netlib reference BLAS on a fresh machine (~2 GFLOP/s), OpenBLAS once libopenblas0-pthread is
// installed; OpenBLAS picks kernels by CPU detection, which falls back to an old core (Prescott,
// SSE3) on a CPU it does not know. So: detect, compare with what the CPU's flags allow, set
// OPENBLAS_CORETYPE where detection falls short, check those kernels against float64, and set
// OPENBLAS_NUM_THREADS explicitly (torch.set_num_threads does not govern OpenBLAS in this build).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const INSTALL_HINT = 'apt-get install python3-torch libopenblas0-pthread (or: bash scripts/setup-bench.sh)';

/** OpenBLAS x86-64 cores from weakest to strongest, each with the CPU flags its kernels need. */
const SKYLAKEX_FLAGS = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'];
export const OPENBLAS_CORES: ReadonlyArray<{ core: string; needs: readonly string[] }> = [
  { core: 'Prescott', needs: ['pni'] },
  { core: 'Nehalem', needs: ['pni', 'ssse3', 'sse4_1', 'sse4_2'] },
  { core: 'Sandybridge', needs: ['avx'] },
  { core: 'Haswell', needs: ['avx2', 'fma'] },
  { core: 'SkylakeX', needs: ['avx2', 'fma', ...SKYLAKEX_FLAGS] },
  { core: 'Cooperlake', needs: ['avx2', 'fma', ...SKYLAKEX_FLAGS, 'avx512_bf16'] },
];
/** Detected names that are not in the list above, mapped to the kernels they use. */
const CORE_ALIASES: Record<string, string> = { Zen: 'Haswell', Core2: 'Prescott', Penryn: 'Prescott', Atom: 'Prescott', Dunnington: 'Prescott', SapphireRapids: 'Cooperlake' };

/** The strongest OpenBLAS core whose kernels this CPU can run. */
export function bestOpenblasCore(flags: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  for (const { core, needs } of OPENBLAS_CORES) if (needs.every((f) => flags.has(f))) best = core;
  return best;
}

/** Rank of a core name in OPENBLAS_CORES (aliases resolved); -1 when unknown. */
export function coreRank(core: string): number {
  return OPENBLAS_CORES.findIndex((c) => c.core === (CORE_ALIASES[core] ?? core));
}

export function cpuFlags(cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')): Set<string> {
  const line = cpuinfo.split('\n').find((l) => l.startsWith('flags'));
  return new Set(line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/) : []);
}

const BlasInfo = z.object({
  vendor: z.enum(['openblas', 'mkl', 'reference', 'unknown']),
  library: z.string().nullable(),
  core: z.string().nullable(),
  config: z.string().nullable(),
  blasThreads: z.number().nullable(),
});
export type BlasInfo = z.infer<typeof BlasInfo>;
const Probe = z.object({ torch: z.string(), torchThreads: z.number(), blas: BlasInfo, sgemmRelativeError: z.number(), sgemmGflops1024: z.number() });
type Probe = z.infer<typeof Probe>;

export interface ThreadSetting {
  /** torch.set_num_threads. */
  torch: number;
  /** OPENBLAS_NUM_THREADS. */
  blas: number;
}

export interface PytorchAnchor {
  python: string;
  torch: string;
  blas: BlasInfo;
  /** What OpenBLAS chose by itself, and what the CPU's flags allow. */
  detectedCore: string | null;
  bestCore: string | null;
  /** Set for every PyTorch process; undefined values are removed from the environment. */
  env: Record<string, string | undefined>;
  /** float32 1024³ matmul with one thread, as configured. */
  sgemmGflops1024: number;
  /** How the anchor is named in reports: never plain "PyTorch" when it runs on reference or fallback kernels. */
  label: string;
  /** True only for OpenBLAS on the strongest core this CPU supports, verified against float64. */
  proper: boolean;
  notes: string[];
}

/** SGEMM error bound against float64: float32 rounding over K = 129 terms is ~1e-7. */
const SGEMM_TOLERANCE = 1e-5;

export interface AnchorOptions {
  /** Tests: the CPU flags to plan for (default: /proc/cpuinfo's). */
  cpuFlags?: ReadonlySet<string>;
  /** Tests: make OpenBLAS "detect" this core (as a CPU it does not know would), to exercise the correction. */
  simulateDetectedCore?: string;
}

/** Finds a python3 with torch and configures it; says what is missing when there is none. */
export function setUpPytorchAnchor(options: AnchorOptions = {}): { anchor: PytorchAnchor } | { missing: string } {
  const python = findTorchPython();
  if (!python) return { missing: `python3 with torch not found: ${INSTALL_HINT}` };
  const notes: string[] = [];
  // OpenBLAS's own choice: no core type, no cache-size override (both set on some machines to
  // work around old builds) — the environment a PyTorch user starts with.
  const base = { OPENBLAS_CORETYPE: undefined, OPENBLAS_L2_SIZE: undefined };
  const detected = probe(python, { ...base, OPENBLAS_CORETYPE: options.simulateDetectedCore, OPENBLAS_NUM_THREADS: '1' });
  const bestCore = bestOpenblasCore(options.cpuFlags ?? cpuFlags()) ?? null;
  if (detected.blas.vendor !== 'openblas') {
    return {
      anchor: {
        python, torch: detected.torch, blas: detected.blas, detectedCore: null, bestCore, env: base, sgemmGflops1024: detected.sgemmGflops1024,
        ...describeAnchor(detected.torch, detected.blas, bestCore), notes,
      },
    };
  }
  const detectedCore = detected.blas.core ?? 'unknown';
  let chosen: Probe = detected;
  let env: Record<string, string | undefined> = base;
  const candidates = bestCore ? OPENBLAS_CORES.slice(0, coreRank(bestCore) + 1).map((c) => c.core).reverse() : [];
  if (bestCore && coreRank(detectedCore) < coreRank(bestCore)) {
    notes.push(`OpenBLAS detected ${detectedCore}; this CPU's flags allow ${bestCore}`);
    for (const core of candidates.filter((c) => coreRank(c) > coreRank(detectedCore))) {
      const tried = probe(python, { ...base, OPENBLAS_CORETYPE: core, OPENBLAS_NUM_THREADS: '1' });
      if (tried.blas.core === core && tried.sgemmRelativeError < SGEMM_TOLERANCE) {
        chosen = tried;
        env = { ...base, OPENBLAS_CORETYPE: core };
        break;
      }
      notes.push(`OPENBLAS_CORETYPE=${core} ${tried.blas.core !== core ? `ran ${tried.blas.core}` : `computed a matmul with relative error ${tried.sgemmRelativeError.toExponential(1)}`}; not used`);
    }
  }
  if (chosen.sgemmRelativeError >= SGEMM_TOLERANCE) {
    throw new Error(`PyTorch's OpenBLAS (${chosen.blas.core}) computes a float32 matmul with relative error ${chosen.sgemmRelativeError} against float64: its numbers would not be an anchor`);
  }
  return {
    anchor: {
      python, torch: chosen.torch, blas: chosen.blas, detectedCore, bestCore, env, sgemmGflops1024: chosen.sgemmGflops1024,
      ...describeAnchor(chosen.torch, chosen.blas, bestCore), notes,
    },
  };
}

/**
 * How an anchor is named: "PyTorch + OpenBLAS (core)" only for OpenBLAS on the strongest core the
 * CPU supports; a reference BLAS or a fallback core says so in the name itself.
 */
export function describeAnchor(torch: string, blas: Pick<BlasInfo, 'vendor' | 'core' | 'config'>, bestCore: string | null): { label: string; proper: boolean } {
  if (blas.vendor !== 'openblas') {
    const what = blas.vendor === 'reference' ? 'the netlib reference BLAS' : `${blas.vendor} BLAS`;
    return { label: `PyTorch ${torch} on ${what} (not a fair anchor: ${INSTALL_HINT})`, proper: false };
  }
  const core = blas.core ?? 'unknown';
  const version = blas.config?.match(/OpenBLAS [\d.]+/)?.[0] ?? 'OpenBLAS';
  const proper = bestCore !== null && coreRank(core) >= coreRank(bestCore);
  return proper
    ? { label: `PyTorch ${torch} + ${version} (${core})`, proper }
    : { label: `PyTorch ${torch} + ${version} on a fallback core (${core}; this CPU supports ${bestCore ?? 'no known core'})`, proper };
}

/** Where Debian's reference BLAS lives once libblas3 is installed (the alternative then points elsewhere). */
const REFERENCE_BLAS_DIR = '/usr/lib/x86_64-linux-gnu/blas';

/**
 * The anchor as it runs when nobody configures it (bench:train --traps): on the netlib reference
 * BLAS a fresh machine has, and on the Prescott kernels OpenBLAS falls back to on a CPU it does not
 * know. Each is probed, so its label says what it really ran on.
 */
export function trapAnchors(anchor: PytorchAnchor): { anchors: PytorchAnchor[]; notes: string[] } {
  const variants: Array<Record<string, string | undefined>> = [{ ...anchor.env, OPENBLAS_CORETYPE: 'Prescott' }];
  const notes: string[] = [];
  if (existsSync(join(REFERENCE_BLAS_DIR, 'libblas.so.3'))) variants.unshift({ ...anchor.env, LD_LIBRARY_PATH: REFERENCE_BLAS_DIR });
  else notes.push(`the reference BLAS is not installed (apt-get install libblas3 puts it in ${REFERENCE_BLAS_DIR}), so it is not measured`);
  const anchors = variants.map((env) => {
    const probed = probe(anchor.python, { ...env, OPENBLAS_NUM_THREADS: '1' });
    return { ...anchor, env, blas: probed.blas, sgemmGflops1024: probed.sgemmGflops1024, ...describeAnchor(probed.torch, probed.blas, anchor.bestCore), notes: [] };
  });
  return { anchors, notes };
}

/** One thread, and the settings a 2-core user might try for the best: more torch threads, more OpenBLAS threads, both. */
export function threadSettings(cores = cpus().length): ThreadSetting[] {
  const settings: ThreadSetting[] = [{ torch: 1, blas: 1 }];
  if (cores > 1) settings.push({ torch: cores, blas: 1 }, { torch: 1, blas: cores }, { torch: cores, blas: cores });
  return settings;
}

/** The environment of a PyTorch process of this anchor with these threads. */
export function anchorEnvironment(anchor: PytorchAnchor, threads: ThreadSetting): NodeJS.ProcessEnv {
  return childEnvironment({ ...anchor.env, OPENBLAS_NUM_THREADS: String(threads.blas), OMP_NUM_THREADS: String(threads.torch) });
}

/** This process's environment with `overrides` applied; an undefined value removes the variable. */
function childEnvironment(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs a python script of the anchor; its stdout must be one JSON object. */
export function runAnchorScript(anchor: PytorchAnchor, script: string, args: string[], threads: ThreadSetting): unknown {
  const run = spawnSync(anchor.python, [script, ...args, String(threads.torch)], { encoding: 'utf8', env: anchorEnvironment(anchor, threads) });
  if (run.status !== 0) throw new Error(`${anchor.python} ${script} failed (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(run.stdout);
}

function probe(python: string, env: Record<string, string | undefined>): Probe {
  const script = benchScript('torch_anchor.py');
  const run = spawnSync(python, [script], { encoding: 'utf8', env: childEnvironment(env) });
  if (run.status !== 0) throw new Error(`${python} ${script} failed (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return Probe.parse(JSON.parse(run.stdout));
}

/** A python3 that imports torch, or undefined. */
export function findTorchPython(): string | undefined {
  // Debian's python3-torch lives under /usr/bin/python3, which a pyenv or venv python3 on PATH hides.
  const pythons = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return pythons.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

/** A python script of bench/, found from any bundle under dist/ (benchmarks and tests sit at different depths). */
export function benchScript(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'bench', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find bench/${name} above ${fileURLToPath(import.meta.url)}`);
}

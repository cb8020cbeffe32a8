// bench:lm's configurations: the training modes compared on the baby GPT (issue 14's list) and
// the simulated links, which are bench:localsgd's.
import { LINKS, type Link } from '../localsgd/suites.js';

export interface LmMode {
  name: string;
  label: string;
  /** train.js flags that make this mode. */
  args: string[];
  /** Optimizer steps between averaging rounds; 1 for sync (gradients every step). */
  roundEvery: number;
}

const DILOCO_OUTER = ['--outer-optimizer', 'nesterov', '--outer-lr', '0.7', '--outer-momentum', '0.9'];
const localSgd = (k: number): LmMode => ({ name: `k${k}`, label: `Local SGD K=${k}`, args: ['--local-sgd-steps', String(k)], roundEvery: k });
const diloco = (k: number): LmMode => ({
  name: `diloco-k${k}`, label: `DiLoCo K=${k}`, args: ['--local-sgd-steps', String(k), ...DILOCO_OUTER], roundEvery: k,
});

// Inner optimizer everywhere: the GPT's default recipe (AdamW, clipping, warmup, cosine).
export const LM_MODES: LmMode[] = [
  { name: 'sync', label: 'sync', args: ['--no-local-sgd'], roundEvery: 1 },
  localSgd(8), localSgd(32), diloco(32), diloco(128),
  // --quick's small versions.
  localSgd(4), diloco(4),
];
export const FULL_MODES = ['sync', 'k8', 'k32', 'diloco-k32', 'diloco-k128'];
export const QUICK_MODES = ['sync', 'diloco-k4'];

export const LM_LINKS: Link[] = LINKS.filter((l) => l.name === '100mbit' || l.name === '1gbit');
export const FULL_LINKS = ['100mbit', '1gbit'];
export const QUICK_LINKS = ['1gbit'];

/** The model of a run: its train.js flags and the block size they give (tokens per window). */
export interface LmModel { args: string[]; blockSize: number }
/** A full run's model, the GPT's defaults (nanoGPT's baby config on Brown), and --quick's. */
export const FULL_MODEL: LmModel = { args: ['--model', 'gpt'], blockSize: 64 };
export const QUICK_MODEL: LmModel = { args: ['--model', 'gpt', '--n-layer', '1', '--n-head', '2', '--n-embd', '32', '--block-size', '16', '--batch-size', '4'], blockSize: 16 };

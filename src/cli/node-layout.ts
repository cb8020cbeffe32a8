// Where this launcher sits in a multi-machine run, with torchrun's names, meanings and defaults:
// --nnodes, --node-rank, --nproc-per-node, --master-addr, --master-port. Each comes from its flag,
// else from what a scheduler puts in the environment (torchrun-style wrappers, Slurm, a Kubernetes
// Indexed Job), else torchrun's default. Without any of these flags the environment is not read at
// all: `--procs 4` inside a Slurm job is still a one-machine run.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_MASTER_PORT, MAX_NNODES, MAX_PROCS_PER_NODE, procsPerNode, wholeNumber, type TrainConfig } from '../train/config.js';
import { UsageError } from './usage-error.js';

/** The node flags as the command line gave them (unvalidated text); absent when not given. */
export interface NodeFlags {
  procs?: string | undefined;
  nnodes?: string | undefined;
  nodeRank?: string | undefined;
  nprocPerNode?: string | undefined;
  masterAddr?: string | undefined;
  masterPort?: string | undefined;
}

type LayoutKey = 'nnodes' | 'nodeRank' | 'nprocPerNode' | 'masterAddr' | 'masterPort';

export interface NodeLayout {
  nnodes: number;
  nodeRank: number;
  nprocPerNode: number;
  masterAddr: string;
  masterPort: number;
  /** The world size, nnodes × nprocPerNode. */
  procs: number;
  /** Where each value came from: its flag (`--node-rank`), a variable (`SLURM_NODEID`), or `default`. */
  from: Record<LayoutKey, string>;
}

export const NODE_FLAGS: Readonly<Record<LayoutKey, string>> = {
  nnodes: '--nnodes', nodeRank: '--node-rank', nprocPerNode: '--nproc-per-node', masterAddr: '--master-addr', masterPort: '--master-port',
};

/** The variables read for each value, first found wins (after the flag, before the default). */
export const NODE_ENV: Readonly<Record<Exclude<LayoutKey, 'nprocPerNode'>, readonly string[]>> = {
  // torchrun-style wrappers; Slurm (SLURM_JOB_NUM_NODES is the newer name of SLURM_NNODES).
  nnodes: ['NNODES', 'SLURM_NNODES', 'SLURM_JOB_NUM_NODES'],
  // torchrun's GROUP_RANK; Slurm's node index within the job; a Kubernetes Indexed Job's pod index.
  nodeRank: ['NODE_RANK', 'GROUP_RANK', 'SLURM_NODEID', 'JOB_COMPLETION_INDEX'],
  masterAddr: ['MASTER_ADDR'],
  masterPort: ['MASTER_PORT'],
};

/** Slurm's list of the job's hosts: its first host is the master when MASTER_ADDR is not set. */
export const SLURM_NODELIST_ENV = ['SLURM_JOB_NODELIST', 'SLURM_NODELIST'] as const;

const DEFAULT_NPROC_PER_NODE = 1; // torchrun's
const LOOPBACK = '127.0.0.1';

/**
 * The layout of a multi-machine run, or undefined for a one-machine run (none of the node flags
 * given). Refuses, naming the flag or variable and its value: --procs beside a node flag, a value
 * that is not valid, a node rank not below the node count, several machines without a master address.
 */
export function resolveNodeLayout(flags: NodeFlags, env: NodeJS.ProcessEnv): NodeLayout | undefined {
  const given = (Object.keys(NODE_FLAGS) as LayoutKey[]).filter((k) => flags[k] !== undefined);
  if (given.length === 0) return undefined;
  if (flags.procs !== undefined) {
    throw new UsageError(
      `--procs ${flags.procs} and ${given.map((k) => NODE_FLAGS[k]).join(', ')} cannot be combined: --procs N means one machine ` +
      `(--nnodes 1 --nproc-per-node N); across machines give --nproc-per-node, the workers on each machine`,
    );
  }
  const nnodes = whole(pick('nnodes', flags, env), 1, MAX_NNODES);
  const nodeRank = whole(pick('nodeRank', flags, env), 0, MAX_NNODES - 1);
  if (nodeRank.value >= nnodes.value) {
    throw new UsageError(
      `node rank ${nodeRank.value} (${said(nodeRank)}) must be below the node count ${nnodes.value} (${said(nnodes)}): ` +
      `node ranks run from 0 to ${nnodes.value - 1}`,
    );
  }
  const nprocPerNode = whole(
    flags.nprocPerNode !== undefined ? { text: flags.nprocPerNode, from: NODE_FLAGS.nprocPerNode } : { text: String(DEFAULT_NPROC_PER_NODE), from: 'default' },
    1, MAX_PROCS_PER_NODE,
  );
  const masterPort = whole(pick('masterPort', flags, env) ?? { text: String(DEFAULT_MASTER_PORT), from: 'default' }, 1, 65535);
  const masterAddr = resolveMasterAddr(flags, env, nnodes);
  return {
    nnodes: nnodes.value, nodeRank: nodeRank.value, nprocPerNode: nprocPerNode.value, masterAddr: masterAddr.text, masterPort: masterPort.value,
    procs: nnodes.value * nprocPerNode.value,
    from: { nnodes: nnodes.from, nodeRank: nodeRank.from, nprocPerNode: nprocPerNode.from, masterAddr: masterAddr.from, masterPort: masterPort.from },
  };
}

interface Found { text: string; from: string }

/** The flag's text, else the first of the key's variables that is set, else the default (0 or 1). */
function pick(key: 'nnodes' | 'nodeRank', flags: NodeFlags, env: NodeJS.ProcessEnv): Found;
function pick(key: 'masterAddr' | 'masterPort', flags: NodeFlags, env: NodeJS.ProcessEnv): Found | undefined;
function pick(key: Exclude<LayoutKey, 'nprocPerNode'>, flags: NodeFlags, env: NodeJS.ProcessEnv): Found | undefined {
  const flag = flags[key];
  if (flag !== undefined) return { text: flag, from: NODE_FLAGS[key] };
  const name = NODE_ENV[key].find((n) => env[n] !== undefined);
  if (name !== undefined) return { text: env[name]!, from: name };
  if (key === 'nnodes') return { text: '1', from: 'default' };
  if (key === 'nodeRank') return { text: '0', from: 'default' };
  return undefined;
}

/** How the user gave a value, for messages: `--nnodes 2`, `SLURM_NNODES=2`, or `the default`. */
function said(found: { text: string; from: string }): string {
  if (found.from === 'default') return 'the default';
  return found.from.startsWith('--') ? `${found.from} ${found.text}` : `${found.from}=${found.text}`;
}

/** Validates a whole number exactly as its flag is validated; a variable's message says where it came from. */
function whole(found: Found, min: number, max: number): Found & { value: number } {
  const fromEnv = !found.from.startsWith('--') && found.from !== 'default';
  const label = fromEnv ? `${found.from} in the environment` : found.from;
  const parsed = wholeNumber(label, min, max).safeParse(found.text);
  if (!parsed.success) {
    const flag = Object.entries(NODE_ENV).find(([, names]) => names.includes(found.from))?.[0] as LayoutKey | undefined;
    const hint = fromEnv && flag ? `; fix the variable or give ${NODE_FLAGS[flag]}, which takes its place` : '';
    throw new UsageError(`${parsed.error.issues[0]!.message}${hint}`);
  }
  return { ...found, value: parsed.data };
}

function resolveMasterAddr(flags: NodeFlags, env: NodeJS.ProcessEnv, nnodes: Found & { value: number }): Found {
  const found = pick('masterAddr', flags, env);
  if (found) return checkHost(found);
  const listVar = SLURM_NODELIST_ENV.find((n) => env[n] !== undefined);
  if (listVar !== undefined) {
    try {
      return { text: firstSlurmHost(env[listVar]!, env).host, from: listVar };
    } catch (e) {
      throw new UsageError(`${listVar}=${env[listVar]} gives no master address: ${(e as Error).message}; give --master-addr (or MASTER_ADDR)`);
    }
  }
  if (nnodes.value === 1) return { text: LOOPBACK, from: 'default' };
  throw new UsageError(
    `${nnodes.value} machines (${said(nnodes)}) need the master's address, which every machine can reach: ` +
    'give --master-addr HOST (node 0\'s host name or IP address) or set MASTER_ADDR',
  );
}

/** A host name or address: not empty, no spaces (a value like "node1 node2" is a list, not a host). */
function checkHost(found: Found): Found {
  const fromEnv = !found.from.startsWith('--');
  if (found.text === '' || /\s/.test(found.text)) {
    const what = found.text === '' ? 'is empty' : `is not one host name or address (got "${found.text}")`;
    throw new UsageError(`${fromEnv ? `${found.from} in the environment` : found.from} ${what}: give node 0's host name or IP address${fromEnv ? ', or --master-addr to take its place' : ''}`);
  }
  return found;
}

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The first host of a Slurm host list: `scontrol show hostnames LIST`'s first line where scontrol is
 * on the environment's PATH and answers with a host name; otherwise (no scontrol, no Slurm
 * configuration for it, an answer that is not a host name) this project's expandHostlist, which
 * refuses a malformed list. Slurm 22.05's scontrol exits 0 whatever the list, printing "node]" for
 * "node[1-", so its answer is checked rather than trusted.
 */
export function firstSlurmHost(list: string, env: NodeJS.ProcessEnv): { host: string; via: 'scontrol' | 'expansion' } {
  const scontrol = findOnPath('scontrol', env.PATH);
  if (scontrol !== undefined) {
    try {
      const out = execFileSync(scontrol, ['show', 'hostnames', list], { env, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
      const first = out.split('\n')[0]!.trim();
      if (HOST_NAME.test(first)) return { host: first, via: 'scontrol' };
    } catch {
      // No slurm.conf here, or scontrol failed some other way: expand the list ourselves.
    }
  }
  return { host: expandHostlist(list)[0]!, via: 'expansion' };
}

/** An executable file named `name` in a PATH string, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Beyond this a host list is surely a typo (node[1-99999999]), and expanding it would exhaust memory. */
const MAX_HOSTS = 1 << 20;

/**
 * Expands a Slurm host list as `scontrol show hostnames` does: `node[01-04,07]` → node01, node02,
 * node03, node04, node07; `a1,b[2-3]` → a1, b2, b3; several bracket groups give their product in
 * Slurm's order (`rack[1-2]-n[01-02]` → rack1-n01, rack1-n02, rack2-n01, rack2-n02; see expandOne).
 * A range keeps its lower bound's width (`[08-10]` → 08, 09, 10). Throws an Error saying what is
 * wrong and where for a list that is not one (an unclosed or nested bracket, an empty name or range,
 * a range that runs backwards, a character no host name has).
 */
export function expandHostlist(list: string): string[] {
  if (list === '') throw new Error('the host list is empty');
  const hosts: string[] = [];
  let start = 0;
  let depth = 0;
  for (let i = 0; i <= list.length; i++) {
    const ch = list[i];
    if (ch === '[') {
      if (depth > 0) throw new Error(`"[" inside brackets at character ${i + 1} of "${list}"`);
      depth = 1;
    } else if (ch === ']') {
      if (depth === 0) throw new Error(`"]" without its "[" at character ${i + 1} of "${list}"`);
      depth = 0;
    } else if (ch === undefined || (ch === ',' && depth === 0)) {
      if (ch === undefined && depth > 0) throw new Error(`"[" never closed in "${list}"`);
      if (i === start) throw new Error(`an empty host name at character ${i + 1} of "${list}"`);
      hosts.push(...expandOne(list.slice(start, i), list, start));
      if (hosts.length > MAX_HOSTS) throw new Error(`"${list}" names more than ${MAX_HOSTS} hosts`);
      start = i + 1;
    }
  }
  return hosts;
}

/**
 * One host name with bracket groups (no top-level commas): the product of its groups. Slurm's order
 * (checked against scontrol 22.05 in the test): the last group varies fastest, then the first, the
 * second, ..., so a[1-2]b[3-4]c[5-6] runs a1b3c5, a1b3c6, a2b3c5, a2b3c6, a1b4c5, ...
 */
function expandOne(item: string, list: string, offset: number): string[] {
  const pieces: Array<string | string[]> = [];
  let i = 0;
  while (i < item.length) {
    if (item[i] === '[') {
      const close = item.indexOf(']', i);
      pieces.push(expandRanges(item.slice(i + 1, close), list, offset + i + 1));
      i = close + 1;
    } else {
      const next = item.indexOf('[', i);
      const literal = item.slice(i, next === -1 ? item.length : next);
      const bad = /[^A-Za-z0-9._-]/.exec(literal);
      if (bad) throw new Error(`"${bad[0]}" at character ${offset + i + bad.index + 1} of "${list}" is not part of a host name`);
      pieces.push(literal);
      i += literal.length;
    }
  }
  const groups = pieces.flatMap((p, at) => (typeof p === 'string' ? [] : [at]));
  if (groups.reduce((n, at) => n * pieces[at]!.length, 1) > MAX_HOSTS) throw new Error(`"${list}" names more than ${MAX_HOSTS} hosts`);
  // Outermost loop first: groups n-1, n-2, ..., 1, then group n innermost (1-based).
  const loops = groups.length < 2 ? groups : [...groups.slice(0, -1).reverse(), groups[groups.length - 1]!];
  let picks: Array<Map<number, string>> = [new Map()];
  for (const at of loops) picks = picks.flatMap((pick) => (pieces[at] as string[]).map((v) => new Map(pick).set(at, v)));
  return picks.map((pick) => pieces.map((p, at) => (typeof p === 'string' ? p : pick.get(at)!)).join(''));
}

/** The inside of one bracket group, `01-04,07`, as zero-padded numbers. */
function expandRanges(inside: string, list: string, offset: number): string[] {
  const values: string[] = [];
  for (const range of inside.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) {
      const what = range === '' ? 'an empty range' : `"${range}" is not a number or a range such as 01-04`;
      throw new Error(`${what} in "[${inside}]" at character ${offset} of "${list}"`);
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`the range ${range} in "[${inside}]" of "${list}" runs backwards`);
    if (hi - lo + 1 + values.length > MAX_HOSTS) throw new Error(`"${list}" names more than ${MAX_HOSTS} hosts`);
    for (let n = lo; n <= hi; n++) values.push(String(n).padStart(m[1]!.length, '0'));
  }
  return values;
}

/** The global ranks of this machine's workers: nodeRank × nprocPerNode + localRank (torchrun's RANK). */
export function globalRanksOf(config: Pick<TrainConfig, 'procs' | 'nprocPerNode' | 'nodeRank'>): number[] {
  const local = procsPerNode(config);
  return Array.from({ length: local }, (_, localRank) => config.nodeRank * local + localRank);
}

/** One line for a log: "node 1 of 2 (ranks 4-7 of 8), master 10.0.0.1:29500". */
export function describeNodeLayout(config: Pick<TrainConfig, 'procs' | 'nprocPerNode' | 'nodeRank' | 'nnodes' | 'masterAddr' | 'masterPort'>): string {
  const ranks = globalRanksOf(config);
  const span = ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks[0]}-${ranks[ranks.length - 1]}`;
  const master = config.masterAddr === undefined ? '' : `, master ${config.masterAddr.includes(':') ? `[${config.masterAddr}]` : config.masterAddr}:${config.masterPort}`;
  return `node ${config.nodeRank} of ${config.nnodes} (${span} of ${config.procs})${master}`;
}

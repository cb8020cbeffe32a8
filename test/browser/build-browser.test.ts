// The browser build's rules (scripts/build-browser.mjs): a module's .browser.ts twin replaces it,
// `uvu` becomes the recorder, and a browser-bound import of webgpu or a Node built-in is a build
// error that names the importer and the fix.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { browserPlugins } from '../../scripts/build-browser.mjs';

const test = suite('browser build rules');
const dir = mkdtempSync(join(tmpdir(), 'build-browser-test-'));

writeFileSync(join(dir, 'needs-node.ts'), "import { readFileSync } from 'node:fs';\nexport const where = 'node' + typeof readFileSync;\n");
writeFileSync(join(dir, 'needs-node.browser.ts'), "export const where = 'the page';\n");
writeFileSync(join(dir, 'with-twin.ts'), "import { where } from './needs-node.js';\nimport { suite } from 'uvu';\nexport const s = [where, suite];\n");
writeFileSync(join(dir, 'gpu.ts'), "import { globals } from 'webgpu';\nexport const g = globals;\n");
writeFileSync(join(dir, 'fs.ts'), "import 'fs';\n");

async function bundle(entry: string) {
  return build({ entryPoints: [join(dir, entry)], bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', plugins: browserPlugins });
}

async function buildError(entry: string): Promise<string> {
  try {
    await bundle(entry);
  } catch (e) {
    return (e as { errors: { text: string }[] }).errors.map((x) => x.text).join('\n');
  }
  assert.unreachable(`${entry} built although it imports what a page lacks`);
  return '';
}

test('a twin replaces its module, and uvu is the recorder', async () => {
  const out = (await bundle('with-twin.ts')).outputFiles[0]!.text;
  assert.ok(out.includes('the page'), 'the twin is in the bundle');
  assert.not.ok(out.includes('readFileSync'), 'the Node module is not');
  assert.ok(out.includes('test/browser/uvu-recorder.ts'), 'uvu resolved to the recorder');
  assert.not.ok(out.includes('node_modules/uvu'), 'not to uvu itself');
});

test('importing webgpu or a Node built-in fails the build, naming the importer and the twin to write', async () => {
  const gpu = await buildError('gpu.ts');
  assert.match(gpu, /gpu\.ts imports "webgpu", which a browser page lacks/);
  assert.match(gpu, /gpu\.browser\.ts twin/);
  assert.match(await buildError('fs.ts'), /fs\.ts imports "fs", which a browser page lacks/);
  assert.match(await buildError('needs-node.ts'), /needs-node\.ts imports "node:fs"/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

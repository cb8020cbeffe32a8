// Counts the tests that Node's build of the kernel test files (dist/test/kernels/*.test.js) holds,
// without running them: a module loader hook hands those files the recorder (built for Node too, as
// dist/test/browser/uvu-recorder.js) instead of uvu, and importing them records their suites. The
// page's count must equal it, so that no test is dropped silently on the way into the browser
// build (a twin that loses one, a file that fails to load there).
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

/**
 * The files are imported under a query of their own: a run of the whole suite has imported them
 * already (uvu imports every test file before it runs any), with the real uvu, and those cached
 * modules must stay as they are. Only imports from these fresh copies are redirected.
 */
const QUERY = '?count-kernel-tests';

const HOOKS = `
let recorder;
export function initialize(data) { recorder = data.recorder; }
export async function resolve(specifier, context, next) {
  if (specifier === 'uvu' && context.parentURL && context.parentURL.endsWith('${QUERY}')) {
    return { url: recorder, shortCircuit: true };
  }
  return next(specifier, context);
}`;

/** `dist` is the Node build's folder; `files` the kernel test files' names without .test.js. */
export async function countNodeKernelTests(dist: string, files: string[]): Promise<number> {
  const recorder = pathToFileURL(join(dist, 'test/browser/uvu-recorder.js')).href;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { recorder } });
  const { recordedTestCount, forgetRecorded } = await import(recorder) as typeof import('./uvu-recorder.js');
  let count = 0;
  for (const file of files) {
    await import(pathToFileURL(join(dist, 'test/kernels', `${file}.test.js`)).href + QUERY);
    count += recordedTestCount();
    forgetRecorded();
  }
  return count;
}

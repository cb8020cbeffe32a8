// Stands in for `uvu` in the browser build of the kernel tests (build.mjs points `import ... from
// 'uvu'` here): the same suite/test/hooks API, but `test.run()` only records the suite, and the page
// runs what was recorded when the harness asks and hands back each test's result as data, since a
// page has no stdout or exit code. Hooks and `only` behave as uvu 0.5's runner does.
type Callback = (context: Record<string, unknown>) => unknown;

interface Hook {
  (hook: Callback): void;
  each(hook: Callback): void;
}

export interface RecordedTest {
  (name: string, handler: Callback): void;
  only(name: string, handler: Callback): void;
  skip(name?: string, handler?: Callback): void;
  before: Hook;
  after: Hook;
  run(): void;
}

export interface TestResult {
  suite: string;
  name: string;
  passed: boolean;
  /** The error's message (uvu's assertions put the values there), for failures. */
  error?: string;
  ms: number;
}

interface Recorded {
  name: string;
  state: Record<string, unknown>;
  tests: { name: string; handler: Callback }[];
  only: { name: string; handler: Callback }[];
  before: Callback[];
  after: Callback[];
  beforeEach: Callback[];
  afterEach: Callback[];
}

let pending: Recorded[] = [];

export function suite(name = '', state: Record<string, unknown> = {}): RecordedTest {
  const fresh = (): Recorded => ({ name, state, tests: [], only: [], before: [], after: [], beforeEach: [], afterEach: [] });
  let current = fresh();
  const test = ((testName: string, handler: Callback) => void current.tests.push({ name: testName, handler })) as RecordedTest;
  test.only = (testName, handler) => void current.only.push({ name: testName, handler });
  test.skip = () => {};
  test.before = Object.assign((hook: Callback) => void current.before.push(hook), {
    each: (hook: Callback) => void current.beforeEach.push(hook),
  });
  test.after = Object.assign((hook: Callback) => void current.after.push(hook), {
    each: (hook: Callback) => void current.afterEach.push(hook),
  });
  test.run = () => {
    pending.push(current);
    current = fresh();
  };
  return test;
}

export const test = suite();

/** How many tests the suites recorded so far (and not yet run) will run. */
export function recordedTestCount(): number {
  return pending.reduce((n, s) => n + (s.only.length ? s.only.length : s.tests.length), 0);
}

/** Drops the recorded suites unrun (test/browser/node-kernel-count.ts only counts them). */
export function forgetRecorded(): void {
  pending = [];
}

/** Runs the recorded suites one after another, forgets them, and returns every test's result. */
export async function runRecorded(): Promise<TestResult[]> {
  const suites = pending;
  pending = [];
  const results: TestResult[] = [];
  for (const s of suites) {
    const tests = s.only.length ? s.only : s.tests;
    s.state.__suite__ = s.name;
    const before = results.length;
    try {
      for (const hook of s.before) await hook(s.state);
      for (const t of tests) {
        s.state.__test__ = t.name;
        const start = performance.now();
        try {
          for (const hook of s.beforeEach) await hook(s.state);
          await t.handler(s.state);
          for (const hook of s.afterEach) await hook(s.state);
          results.push({ suite: s.name, name: t.name, passed: true, ms: performance.now() - start });
        } catch (e) {
          for (const hook of s.afterEach) await hook(s.state);
          results.push({ suite: s.name, name: t.name, passed: false, error: describe(e), ms: performance.now() - start });
        }
      }
    } catch (e) {
      // A failing `before` hook fails every test of the suite that had not run, as uvu reports it.
      for (const t of tests.slice(results.length - before)) {
        results.push({ suite: s.name, name: t.name, passed: false, error: `hook failed: ${describe(e)}`, ms: 0 });
      }
    } finally {
      s.state.__test__ = '';
      for (const hook of s.after) await hook(s.state);
    }
  }
  return results;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

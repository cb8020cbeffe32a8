// The browser twin of test-env.ts: the page's URL carries the settings (?seed=…&quiet=1), since a
// page has no environment. test/browser/kernels-in-chromium.test.ts passes its own TEST_SEED on.
import { pageParams } from './page-params.js';

const params = pageParams();
const seed = params.get('seed');

export const BASE_SEED = seed ? Number(seed) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;

export const TEST_QUIET = params.get('quiet') === '1';

/** Chromium's compatibility adapter (ANGLE over GL ES on lavapipe) offers no subgroups; see test-env.ts. */
export const SUBGROUPS_EXPECTED_ON_CPU = false;

// The settings the test helpers read from the environment, in one place so that a page can give
// the same ones from its URL (test-env.browser.ts, for the kernel tests in Chromium).

/** TEST_SEED fixes the base seed of the random inputs; otherwise each run draws a fresh one. */
export const BASE_SEED = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

/** TEST_QUIET=1 keeps the helpers from printing (the adapter line, for one). */
export const TEST_QUIET = process.env.TEST_QUIET === '1';

/**
 * Whether a CPU adapter must run the subgroup matmul: Dawn in Node offers `subgroups` on lavapipe, so
 * there its absence fails the tests rather than skipping the entries (the browser twin says false:
 * Chromium's compatibility adapter over ANGLE offers none, and the tests check the refusal instead).
 */
export const SUBGROUPS_EXPECTED_ON_CPU = true;

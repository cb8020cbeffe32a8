// The test page's URL parameters, which stand in for the environment in the browser twins
// (test-env.browser.ts, open-test-gpu.browser.ts). `location` is typed here, once, so that these
// modules type-check with or without TypeScript's DOM library.
export function pageParams(): URLSearchParams {
  const { location } = globalThis as unknown as { location?: { href: string } };
  if (!location) throw new Error('pageParams() runs only in a browser page (there is no location here)');
  return new URL(location.href).searchParams;
}

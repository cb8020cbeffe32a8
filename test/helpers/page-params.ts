// The test page's URL parameters, which stand in for the environment in the browser twins
// (test-env.browser.ts, open-test-gpu.browser.ts). The project's TypeScript has no DOM library, so
// `location` is typed here, once.
export function pageParams(): URLSearchParams {
  const { location } = globalThis as unknown as { location?: { href: string } };
  if (!location) throw new Error('pageParams() runs only in a browser page (there is no location here)');
  return new URL(location.href).searchParams;
}

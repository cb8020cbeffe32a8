// Where things are on the master's web server for browser workers, as the page and the server
// (src/tabs/tab-site.ts, src/cli/browser-workers.ts) both need them: one place, so they cannot drift.
// No Node imports: the page bundles this file.

/** The page and its script (build-browser.mjs writes them under dist/browser/tab/). */
export const PAGE_FILES = { html: 'tab.html', script: 'tab.js' } as const;
/** The run's data split (split-codec.ts), served only with the data ticket (comm/data-ticket.ts). */
export const DATA_SPLIT_PATH = '/data/split.safetensors';
/** The WebSocket endpoint a tab's channel opens (comm/tab-endpoint.ts). */
export const JOIN_PATH = '/join';

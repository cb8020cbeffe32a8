// --browser-workers: the tabs' side of a run. The join token (the user's --join-token-file, or a fresh
// random one on loopback) becomes the run's secret, which Node workers get in their environment and
// tabs derive from the link's fragment; the master serves the page, the run's data and the
// WebSocket endpoint, and prints the link a volunteer opens.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { dataTicket } from '../comm/data-ticket.js';
import { isLoopback } from '../comm/endpoint.js';
import { JOIN_TOKEN_ENV, JOIN_TOKEN_MIN_BYTES, MAKE_TOKEN, readJoinToken, secretFromJoinToken } from '../comm/join-token.js';
import { attachTabEndpoint } from '../comm/tab-endpoint.js';
import { RefusalLog } from '../comm/refusals.js';
import type { TabOptions } from '../comm/tab-seats.js';
import { readPemFile } from '../comm/tls.js';
import { encodeDataSplit } from '../data/split-codec.js';
import { JOIN_PATH } from '../browser/site-paths.js';
import { TabSite } from '../tabs/tab-site.js';
import type { TrainConfig } from '../train/config.js';
import { loadTrainingData } from '../train/data.js';
import { UsageError } from './usage-error.js';

export interface BrowserWorkers {
  tabs: TabOptions;
  secret: Uint8Array;
}

/** The tab ranks are the last ones: processes keep rank 0, which saves. */
export function tabRanks(config: TrainConfig): number[] {
  return Array.from({ length: config.browserWorkers }, (_, i) => config.procs - config.browserWorkers + i);
}

export function browserWorkers(config: TrainConfig, workerScript: string, onLine: (line: string) => void): BrowserWorkers {
  const offLoopback = !isLoopback(config.browserHost);
  const tls = config.tlsCert !== undefined || config.tlsKey !== undefined ? readTls(config) : undefined;
  let token: string | undefined;
  try {
    token = readJoinToken({ tokenFile: config.joinTokenFile });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (offLoopback && token === undefined) {
    throw new UsageError(
      `--browser-host ${config.browserHost} serves the join page beyond this machine, so the run needs a join token that you chose and keep: ` +
        `make one (${MAKE_TOKEN}) and give --join-token-file join.token (or set ${JOIN_TOKEN_ENV})`,
    );
  }
  if (offLoopback && !tls) {
    throw new UsageError(
      `--browser-host ${config.browserHost} needs --tls-cert and --tls-key: browsers give WebGPU and Web Crypto only to https:// pages ` +
        '(and to http://localhost), so a tab on another machine could not train over plain http',
    );
  }
  // On loopback without a token, a fresh random one: the link carries it, so nobody needs to keep it.
  token ??= randomBytes(JOIN_TOKEN_MIN_BYTES).toString('hex');
  const secret = secretFromJoinToken(token, '--join-token-file');
  const pageDir = join(dirname(workerScript), 'browser', 'tab');
  return {
    secret,
    tabs: {
      ranks: tabRanks(config),
      rendezvousTimeoutMs: config.rendezvousTimeout * 1000,
      onLine,
      async open(server) {
        const refusals = new RefusalLog();
        const site = new TabSite({
          listen: { host: config.browserHost, port: config.browserPort }, pageDir, tls,
          dataTicket: await dataTicket(secret),
          data: async () => encodeDataSplit(await loadTrainingData(config)),
        });
        const port = await site.listen();
        const shownHost = config.browserHost === '0.0.0.0' || config.browserHost === '::' ? hostname() : config.browserHost;
        const endpoint = attachTabEndpoint(site.http, { path: JOIN_PATH, server, allowedOrigins: { sameOrigin: site.scheme }, onRefused: (refusal) => refusals.add(refusal) });
        const link = `${site.scheme}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/#token=${token}`;
        onLine(`waiting for ${config.browserWorkers} browser tab${config.browserWorkers > 1 ? 's' : ''} (ranks ${tabRanks(config).join(', ')}; up to ${config.rendezvousTimeout} s): open this link in a browser with WebGPU\n  ${link}`);
        return async () => {
          endpoint.close();
          refusals.close();
          await site.close();
        };
      },
    },
  };
}

function readTls(config: TrainConfig): { cert: Uint8Array; key: Uint8Array } {
  if (config.tlsCert === undefined || config.tlsKey === undefined) {
    throw new UsageError('--tls-cert and --tls-key go together for the browser workers\' page: the certificate and its private key (PEM)');
  }
  try {
    return { cert: readPemFile('--tls-cert', config.tlsCert), key: readPemFile('--tls-key', config.tlsKey) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

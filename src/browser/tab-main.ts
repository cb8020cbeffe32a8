// The page's program (dist/browser/tab/tab.js): a browser tab that becomes one worker of a run. It
// checks for WebGPU before it takes a seat, proves the join token from the link's fragment over the
// WebSocket (the same HMAC challenge–response as a Node worker, in Web Crypto), receives its rank
// and the run's config, and runs the same training loop with the same kernels as dist/worker.js.
import { dataTicket } from '../comm/data-ticket.js';
import { toHex } from '../comm/handshake-web.js';
import { secretFromJoinTokenAsync } from '../comm/join-token-web.js';
import { MemberChannel } from '../comm/member-channel.js';
import { openBrowserGpu } from '../gpu/browser-device.js';
import { formatAdapter, type GpuContext } from '../gpu/context.js';
import { trainConfigSchema, type TrainConfig } from '../train/config.js';
import type { ModelRecord } from '../train/records.js';
import { trainWorker } from '../train/train-worker.js';
import { JOIN_PATH } from './site-paths.js';
import { tabPlatform } from './tab-platform.js';
import { TabView } from './tab-view.js';

/** Proving the token and receiving init; a master that takes longer is not there. */
const JOIN_TIMEOUT_MS = 30_000;

async function main(view: TabView): Promise<void> {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token) {
    view.show('refused', 'This link carries no join token (it ends in #token=…). Ask whoever started the run for the whole link.');
    return;
  }
  let gpu: GpuContext;
  try {
    // ?featureLevel=compatibility asks for a compatibility adapter only (Chromium reaches OpenGL ES-only
    // drivers such as Mesa's lavapipe only so); by default a full adapter, else a compatibility one.
    const featureLevel = new URLSearchParams(location.search).get('featureLevel') === 'compatibility' ? 'compatibility' : 'core';
    gpu = await openBrowserGpu({ featureLevel });
  } catch (error) {
    view.show('no-webgpu', (error as Error).message);
    return;
  }
  const adapter = formatAdapter(gpu.info);
  view.fact('Adapter', adapter);
  view.show('joining', 'Joining the run…');
  let channel: MemberChannel;
  /** What the page says once its device is lost; it stays the message whatever fails after. */
  let deviceLost: string | undefined;
  try {
    const secret = await secretFromJoinTokenAsync(token, 'the join link');
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${JOIN_PATH}`);
    channel = await MemberChannel.connectTab(socket, secret, { adapter, agent: navigator.userAgent }, { timeoutMs: JOIN_TIMEOUT_MS });
    const config = trainConfigSchema.parse(channel.config);
    const platform = tabPlatform(new URL(location.href), await dataTicket(secret));
    view.fact('Run', describeRun(config, channel.worldSize));
    view.fact('Rank', `${channel.rank} of ${channel.worldSize}`);
    view.show('training', `Training as rank ${channel.rank}: this tab's GPU is part of the run.`);
    let totalSteps: number | undefined;
    let failure: Error | undefined;
    // The driver reset, the GPU process crashed, the laptop slept: this tab cannot train on, so it
    // says so to the master at once (rather than at its next GPU call), which treats it as lost.
    void gpu.device.lost.then((info) => {
      if (info.reason === 'destroyed') return; // the end of training, by this page's own hand
      const lost = new Error(`this tab lost its WebGPU device (${info.reason}${info.message ? `: ${info.message}` : ''})`);
      failure ??= lost;
      deviceLost = `This tab lost its GPU device (${info.message || info.reason}); the master treats it as a lost worker.`;
      view.show('failed', deviceLost);
      void channel.fail(lost).finally(() => channel.close());
    });
    const code = await channel.serve(() => trainWorker(config, {
      platform, channel, gpu,
      onLog: (record) => {
        channel.log(record);
        if (record.kind === 'train') view.train(record, totalSteps);
        else if (record.kind === 'eval') view.evaluation(record);
        const { rounds, bytesSent, bytesReceived } = channel.stats();
        view.fact('Averaging rounds joined', `${rounds} (${((bytesSent + bytesReceived) / 1e6).toFixed(1)} MB exchanged)`);
      },
      onModel: (info) => {
        totalSteps = info.totalSteps;
        view.fact('Model', `${info.description}, ${info.parameterCount.toLocaleString('en')} parameters, on ${info.data}`);
        channel.log({ kind: 'model', ...info } satisfies ModelRecord);
      },
      // The weights this tab ends with, as a checksum: every worker's must be the same after the closing average.
      hooks: { afterTraining: async (event) => view.fact('Final weights (SHA-256)', await sha256(await event.readParameters())) },
    }).catch((error: Error) => {
      failure = error; // serve() reports it to the master; the volunteer should read it too
      throw error;
    }));
    if (code !== 0) throw failure ?? channel.brokenBy ?? new Error('training failed');
    view.show('done', `Done: rank ${channel.rank} finished its share and the run's final average. Thank you; you can close this tab.`);
  } catch (error) {
    const message = (error as Error).message;
    const refused = /proof|token|refused|seat/i.test(message);
    if (deviceLost) view.show('failed', deviceLost); // what broke first, not the GPU call that noticed
    else view.show(refused ? 'refused' : 'failed', refused ? `The master refused this tab: ${message}` : `This tab stopped: ${message}`);
  }
}

function describeRun(config: TrainConfig, worldSize: number): string {
  const averaging = config.localSgd ? `Local SGD, parameters averaged every ${config.localSgdSteps} steps` : 'synchronous, gradients averaged every step';
  return `${worldSize} workers, ${averaging}, seed ${config.seed}, at ${location.host}`;
}

async function sha256(values: Float32Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(values.buffer as ArrayBuffer, values.byteOffset, values.byteLength))));
}

const view = new TabView(document);
void main(view);

// The local supervisor (torchrun's job): forks one worker process per rank, watches them, and
// reacts to what the collective server reports. It alone knows about child processes: a worker
// that exits, hangs or reports an error is lost, and the failure policy says what follows (stop
// the run, drop the rank, or start a new process for it, torchft's idea). It owns Ctrl-C (and
// SIGTERM, SIGHUP), and stops the run cleanly, leaving no process and no socket file behind.
//
// Browser tabs (LaunchOptions.tabs) are members it does not start: their ranks wait, vacant, for a
// tab that opens the join link (tab-seats.ts), up to the rendezvous timeout. A tab whose connection
// closes before done is a lost worker like a process that exits; under 'respawn' its rank waits for
// the next tab instead of a new process.
import { fork, type ChildProcess } from 'node:child_process';
import { describeTab, type CollectiveServer, type RoundComplete, type ServerEvents, type SilenceReport, type TabInfo } from './collective-server.js';
import { secretToText } from './handshake.js';
import { ProtocolError } from './protocol.js';
import { RefusalLog, type Refusal } from './refusals.js';
import { makeSocketDir, type SocketDir } from './socket-dir.js';
import { TabSeats } from './tab-seats.js';
import { ENV } from './worker-channel.js';
import { WorkerOutput } from './worker-output.js';
import {
  InterruptedError, STOP_SIGNALS, WorkerFailedError, WorkerTimeoutError,
  type LaunchOptions, type LaunchResult, type WorkerFailurePolicy, type WorkerLostEvent,
} from './launch-api.js';

/** After a worker reports an error, how long it gets to exit by itself (so its own exit code is reported). */
const REPORTED_ERROR_EXIT_MS = 1000;
/** How long workers that were sent stop get to exit before SIGTERM. */
const STOP_GRACE_MS = 300;
/** Once every rank is done, how long they get to exit before they are stopped. */
const EXIT_AFTER_DONE_MS = 10_000;
export const DEFAULT_MAX_RESPAWNS = 3;

/**
 * Where a worker sits, as torchrun tells its processes: RANK (global), LOCAL_RANK (on its machine),
 * WORLD_SIZE, LOCAL_WORLD_SIZE and GROUP_RANK (its machine). A machine's ranks are consecutive and
 * as many on every machine (node n: n·perNode …), so its index is its first rank over their count.
 */
export function torchrunEnvironment(rank: number, ranks: readonly number[], worldSize: number): Record<string, string> {
  return {
    RANK: String(rank), LOCAL_RANK: String(ranks.indexOf(rank)), WORLD_SIZE: String(worldSize),
    LOCAL_WORLD_SIZE: String(ranks.length), GROUP_RANK: String(Math.floor(ranks[0]! / ranks.length)),
  };
}

/** What the supervisor does to a member: a process it forked, or a browser tab connected over the web. */
interface MemberHandle {
  readonly pid: number | undefined;
  /** How reports name it: "pid 1234", or describeTab's "tab at 10.0.0.5 port 51234 (adapter)". */
  readonly who: string;
  kill(signal: NodeJS.Signals): void;
}

interface WorkerProcess {
  rank: number;
  /** A tab's rank is vacant until a tab takes it (then it holds that tab's handle). */
  kind: 'process' | 'tab';
  handle: MemberHandle;
  stderrTail: string[];
  done: boolean;
  summary: unknown;
  reportedError: string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  gone: boolean;
  whenGone: Promise<void>;
  /** Processes that held this rank before this one. */
  restarts: number;
  /** Set when it was killed for hanging (not 'abort'): how it is described once gone. */
  hung: string | undefined;
  /** Dropped or replaced: its end no longer matters. */
  lost: boolean;
  /** Its process exited or its tab's connection closed: once its last frames are handled, its end is judged. */
  markGone(): void;
}

export class Supervisor implements ServerEvents {
  /** By rank: on a machine of several, only its own ranks are present. */
  private readonly workers: WorkerProcess[] = [];
  /** The ranks whose processes this supervisor starts: all of them, or its machine's. */
  private readonly ranks: readonly number[];
  private socketDir!: SocketDir;
  private readonly refusals = new RefusalLog();
  private readonly output: WorkerOutput;
  private server!: CollectiveServer;
  /** Set once the run is ending (success, failure or interrupt): exits stop mattering. */
  private stopping = false;
  private killedHard = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAt = performance.now();
  private readonly policy: WorkerFailurePolicy;
  private readonly maxRespawns: number;
  private readonly lost: WorkerLostEvent[] = [];
  private settle!: { resolve: (r: LaunchResult) => void; reject: (e: Error) => void };
  private readonly onSignal = (signal: NodeJS.Signals) => void this.interrupt(signal);
  private readonly tabs: TabSeats | undefined;
  private closeTabSite: (() => Promise<void>) | undefined;

  /** The run's secret (handshake.ts), which the server checks and each worker gets in its environment. */
  constructor(private readonly options: LaunchOptions, private readonly secret: Uint8Array) {
    this.policy = options.onWorkerFailure ?? 'abort';
    this.tabs = options.tabs && new TabSeats(options.tabs, (why) => this.fail(() => why));
    const all = options.ranks ?? Array.from({ length: options.procs }, (_, rank) => rank);
    this.ranks = all.filter((rank) => !this.tabs?.holds(rank));
    this.maxRespawns = options.maxRespawns ?? DEFAULT_MAX_RESPAWNS;
    this.output = new WorkerOutput(options);
  }

  /** Serves `server` on a fresh socket, starts every rank's process, and settles when the run ends. */
  async run(server: CollectiveServer): Promise<LaunchResult> {
    this.server = server;
    const result = new Promise<LaunchResult>((resolve, reject) => (this.settle = { resolve, reject }));
    this.socketDir = makeSocketDir();
    try {
      await server.listen(this.socketDir.path);
    } catch (error) {
      this.socketDir.remove();
      throw error;
    }
    this.options.onListening?.(this.socketDir.path);
    if (this.tabs) {
      try {
        this.closeTabSite = await this.tabs.open(server);
      } catch (error) {
        await server.close();
        this.socketDir.remove();
        throw error;
      }
      for (const rank of this.tabs.ranks) this.workers[rank] = this.vacantTabSeat(rank, 0);
    }
    // SIGHUP (the terminal went away) stops the run like SIGTERM: by default it would kill this
    // process before it could stop the workers, save, or remove the socket directory.
    for (const signal of STOP_SIGNALS) process.on(signal, this.onSignal);
    for (const rank of this.ranks) this.spawn(rank, 0);
    return result;
  }

  /**
   * Which rank a tab that proved the secret takes: the lowest vacant tab rank (ServerOptions.tabSeat).
   * A rank is vacant from the start or from its respawn until a tab joins; a dropped rank never is.
   */
  tabSeat(): number | undefined {
    return this.tabs?.ranks.find((rank) => this.tabs!.isVacant(rank));
  }

  // ---- what the server reports ----

  onTabJoined(rank: number, tab: TabInfo): void {
    const worker = this.workers[rank]!;
    const who = describeTab(tab);
    worker.handle = { pid: undefined, who, kill: () => this.server.disconnect(rank) };
    this.tabs!.joined(rank, tab);
  }

  onTabLeft(rank: number, tab: TabInfo, why: 'done' | 'lost' | 'ended'): void {
    const worker = this.workers[rank];
    // A connection of a rank already replaced (its seat is a new one) ends the old tab only.
    if (!worker || worker.kind !== 'tab' || worker.handle.who !== describeTab(tab)) return;
    this.tabs!.left(rank, tab, why);
    worker.exit = { code: why === 'lost' ? null : 0, signal: null };
    if (why === 'lost' && !worker.done && !worker.reportedError) worker.stderrTail.push('its connection closed before it sent done: the page was closed or reloaded, the browser crashed, or its network went away');
    worker.markGone();
  }

  checkHello(rank: number, pid: number | undefined): void {
    const expected = this.workers[rank]?.handle.pid;
    if (pid !== expected) throw new ProtocolError(`that rank's worker is pid ${expected}`);
  }

  onRefused(refusal: Refusal): void {
    this.refusals.add(refusal);
  }

  onLog(rank: number, record: unknown): void {
    this.options.onLog?.(rank, record);
  }

  onDone(rank: number, summary: unknown): void {
    const worker = this.workers[rank]!;
    worker.done = true;
    worker.summary = summary;
    if (this.members().every((w) => w.done)) this.exitAfterDone();
  }

  onWorkerError(rank: number, message: string): void {
    const worker = this.workers[rank]!;
    worker.reportedError = message;
    // Give it a moment to exit by itself, so its own exit code and last words are reported.
    if (this.policy === 'abort') {
      this.later(REPORTED_ERROR_EXIT_MS, () => this.fail(() => this.workerFailed(worker, worker.exit ? undefined : 'reported an error')));
    } else {
      // Lost all the same; its exit brings it to lose().
      this.later(REPORTED_ERROR_EXIT_MS, () => worker.gone || worker.handle.kill('SIGKILL'));
    }
  }

  onRoundComplete(round: RoundComplete): void {
    this.options.onRoundComplete?.(round);
  }

  onSilent(report: SilenceReport): void {
    if (this.stopping) return;
    // A vacant tab rank is waited for by the rendezvous timeout (tab-seats.ts), not this watchdog.
    const silent = report.ranks.filter(({ rank }) => !this.workers[rank]!.gone && !this.workers[rank]!.hung && !this.tabs?.isVacant(rank));
    if (silent.length === 0) return;
    const seconds = (report.timeoutMs / 1000).toFixed(1);
    const waited = report.collective ? ` while rank ${report.waiting.join(', ')} waited in ${report.collective}` : '';
    const what = report.kind === 'silent'
      ? `sent nothing, not even a heartbeat, for over ${seconds} s${waited}`
      : `sent nothing but heartbeats for over ${seconds} s${waited}`;
    const why = report.kind === 'silent'
      ? 'it is stopped (SIGSTOP, a debugger) or its event loop is blocked'
      : 'it is alive but not getting there: it may be hung';
    const describe = ({ rank, lastHeard, doing }: SilenceReport['ranks'][number]) => {
      return { who: `rank ${rank} (${this.workers[rank]!.handle.who})`, when: `${doing ? `last doing: ${doing}; ` : ''}last heard ${lastHeard}` };
    };
    if (this.policy !== 'abort') {
      // A hung worker is a lost one: kill it (SIGKILL ends a stopped process too); its exit brings it to lose().
      for (const rank of silent) {
        const w = this.workers[rank.rank]!;
        w.hung = `hung (${w.handle.who}): ${what} (${describe(rank).when}); ${why}, so it was ${w.kind === 'tab' ? 'disconnected' : 'killed'}`;
        w.handle.kill('SIGKILL');
      }
      return;
    }
    const ranks = silent.map((s) => s.rank);
    const named = silent.map(describe);
    this.fail(() => new WorkerTimeoutError(
      `${named.map((n) => n.who).join(', ')} ${what} (${named.map((n) => n.when).join('; ')}); ${why}. ` +
        'If its work really takes that long, raise the worker timeout (--worker-timeout).',
      ranks,
    ));
  }

  onFatal(error: Error): void {
    this.fail(() => error);
  }

  // ---- processes ----

  private spawn(rank: number, restarts: number): void {
    const child = fork(this.options.workerScript, this.options.workerArgs, {
      // The socket, the rank and the secret are all a worker needs: the rest arrives in the server's init.
      env: {
        ...process.env, ...this.options.env, ...torchrunEnvironment(rank, this.ranks, this.options.procs),
        [ENV.socket]: this.socketDir.path, [ENV.rank]: String(rank), [ENV.secret]: secretToText(this.secret),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group, so a terminal's Ctrl-C reaches only the launcher, which decides
      // how to stop (saving the last averaged weights first).
      detached: true,
    });
    const worker = this.member(rank, 'process', { pid: child.pid, who: `pid ${child.pid}`, kill: (signal) => child.kill(signal) }, restarts);
    worker.stderrTail = this.output.attach(rank, child);
    if (child.pid !== undefined) this.options.onWorkerStarted?.({ rank, pid: child.pid });
    const gone = () => worker.markGone();
    // 'close' waits for stdio to end, so the stderr tail is complete; the timer covers a
    // grandchild that keeps the pipes open.
    child.once('exit', (code, signal) => {
      worker.exit = { code, signal };
      setTimeout(gone, 500).unref();
    });
    child.once('close', gone);
    child.on('error', (e) => {
      // Spawn failures (and kill() on a dead pid) land here; an exit follows a real spawn.
      if (child.pid === undefined) {
        worker.exit = { code: null, signal: null };
        worker.stderrTail.push(`could not start ${this.options.workerScript}: ${e.message}`);
        gone();
      }
    });
  }

  /** A member's record; its end is judged (onWorkerGone) once it is gone and its last frames are in. */
  private member(rank: number, kind: WorkerProcess['kind'], handle: MemberHandle, restarts: number): WorkerProcess {
    let resolveGone!: () => void;
    const worker: WorkerProcess = {
      rank, kind, handle, stderrTail: [], done: false, summary: undefined, reportedError: undefined, exit: undefined,
      gone: false, whenGone: new Promise((resolve) => (resolveGone = resolve)), restarts, hung: undefined, lost: false,
      markGone: () => {
        if (worker.gone) return;
        worker.gone = true;
        resolveGone();
        // Judge the end only after its last frames are in: a worker that sent done and exited may
        // still have done in the socket or on the simulated link.
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise((resolve) => (timer = setTimeout(resolve, 2000)));
        // After the bound, one turn through the event loop's poll phase before judging: when this
        // process was held up for longer than the bound (a loaded machine), the timer runs before
        // the I/O that waited with it, which may hold the worker's done.
        const pollOnce = () => new Promise((resolve) => setImmediate(resolve));
        void Promise.race([this.server.drained(rank), bound.then(pollOnce)]).then(() => {
          clearTimeout(timer);
          this.onWorkerGone(worker);
        });
      },
    };
    this.workers[rank] = worker;
    return worker;
  }

  /** A tab rank before a tab takes it: nothing to stop, and gone at once when the run ends. */
  private vacantTabSeat(rank: number, restarts: number): WorkerProcess {
    return this.member(rank, 'tab', { pid: undefined, who: 'no tab yet', kill: () => {} }, restarts);
  }

  private onWorkerGone(worker: WorkerProcess): void {
    if (this.stopping || worker.lost) return;
    const { code } = worker.exit ?? { code: null, signal: null };
    if (worker.done && code === 0) {
      if (this.members().every((w) => w.done && w.gone)) void this.finish();
      return;
    }
    if (this.policy === 'abort') this.fail(() => this.workerFailed(worker));
    else this.lose(worker);
  }

  /** The latest member of each rank served here: its processes (on a machine of several, its own ranks only) and its tabs. */
  private processes(): WorkerProcess[] {
    return [...this.ranks, ...(this.tabs?.ranks ?? [])].map((rank) => this.workers[rank]).filter((w): w is WorkerProcess => w !== undefined);
  }

  /**
   * Stops the run with `error`, as a lost worker would under 'abort': for what this supervisor
   * cannot see itself (across machines: the master stopped the run, or went away).
   */
  abort(error: Error): void {
    this.fail(() => error);
  }

  /** The processes the collectives wait for, in rank order. */
  private members(): WorkerProcess[] {
    return this.server.liveRanks.map((rank) => this.workers[rank]!);
  }

  /** 'continue' and 'respawn': the run goes on without this process. */
  private lose(worker: WorkerProcess): void {
    const rank = worker.rank;
    const error = this.workerFailed(worker);
    worker.lost = true;
    if (this.policy === 'respawn') {
      if (worker.restarts >= this.maxRespawns) {
        error.message = `${error.message}\nrank ${rank} was already respawned ${worker.restarts} time(s), the limit (maxRespawns ${this.maxRespawns}), ` +
          'so the run stops: a worker that fails again after every restart probably fails deterministically';
        this.fail(() => error);
        return;
      }
      // The new process learns where to start (the last parameter average, its step and round numbers) from the server's init.
      const completed = this.server.replace(rank, worker.restarts + 1);
      if (worker.kind === 'tab') {
        this.vacantTabSeat(rank, worker.restarts + 1);
        this.tabs!.vacated(rank);
      } else {
        this.spawn(rank, worker.restarts + 1);
      }
      this.report({ rank, reason: error.message, action: 'respawned', liveRanks: this.server.liveRanks, completed, restarts: worker.restarts + 1 });
      return;
    }
    if (rank === 0 && this.server.completed.broadcast === 0) {
      error.message = `${error.message}\nrank 0 was lost before it broadcast the initial weights, so the others have nothing to start from; the run stops`;
      this.fail(() => error);
      return;
    }
    const { completed, resume } = this.server.drop(rank);
    if (this.server.liveRanks.length === 0) {
      this.fail(() => error); // every worker is gone: as 'abort' would, report the last one
      return;
    }
    this.report({ rank, reason: error.message, action: 'dropped', liveRanks: this.server.liveRanks, completed, restarts: worker.restarts });
    resume();
    const members = this.members();
    if (members.every((w) => w.done && w.gone)) void this.finish();
    else if (members.every((w) => w.done)) this.exitAfterDone();
  }

  private report(event: WorkerLostEvent): void {
    this.lost.push(event);
    this.options.onWorkerLost?.(event);
  }

  private workerFailed(worker: WorkerProcess, what?: string): WorkerFailedError {
    const { code, signal } = worker.exit ?? { code: null, signal: null };
    const tail = worker.stderrTail.join('\n');
    const said = worker.reportedError ? `; it reported: ${worker.reportedError}` : '';
    if (worker.kind === 'tab') {
      const how = what ?? worker.hung ?? (worker.done ? 'left after done' : 'left before sending done');
      return new WorkerFailedError(`worker rank ${worker.rank} ${how}: it was the browser ${worker.handle.who}${said}${tail ? `; ${tail}` : ''}`, worker.rank, code, signal, tail);
    }
    const how = what ?? worker.hung ?? (signal ? `was killed by ${signal}` : worker.done ? `exited with code ${code} after done` : `exited with code ${code} before sending done`);
    return new WorkerFailedError(
      `worker rank ${worker.rank} ${how}${said}${tail ? `\nlast lines of its stderr:\n${tail}` : ' (its stderr was empty)'}`,
      worker.rank, code, signal, tail,
    );
  }

  private exitAfterDone(): void {
    this.later(EXIT_AFTER_DONE_MS, () => {
      const stuck = this.members().filter((w) => !w.gone).map((w) => w.rank);
      process.stderr.write(`ranks ${stuck.join(', ')} sent done but did not exit within ${EXIT_AFTER_DONE_MS / 1000} s; stopping them (workers should exit after done)\n`);
      void this.finish();
    });
  }

  // ---- ending ----

  /** The run is ending: the server stops counting frames at once, whatever the caller awaits first. */
  private beginStopping(): boolean {
    if (this.stopping) return false;
    this.stopping = true;
    this.server.halt();
    return true;
  }

  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    if (!this.beginStopping()) {
      // A second Ctrl-C: stop waiting politely.
      this.killedHard = true;
      for (const w of this.processes()) if (!w.gone) w.handle.kill('SIGKILL');
      return;
    }
    try {
      await this.options.onInterrupt?.(this.server);
    } catch (error) {
      process.stderr.write(`while handling ${signal}: onInterrupt failed: ${(error as Error).stack ?? String(error)}\n`);
    }
    await this.stopAll(`${signal} received`);
    const live = this.server.liveRanks.length;
    this.settle.reject(new InterruptedError(`interrupted by ${signal}; all ${live} ${live === this.ranks.length ? '' : 'remaining '}workers stopped`, signal));
  }

  private fail(makeError: () => Error): void {
    if (!this.beginStopping()) return;
    void this.stopAll('a worker failed').then(() => this.settle.reject(makeError()));
  }

  private async finish(): Promise<void> {
    if (!this.beginStopping()) return;
    await this.stopAll('the run is complete');
    const live = new Set(this.server.liveRanks);
    this.settle.resolve({
      summaries: this.workers.map((w) => (live.has(w.rank) ? w.summary : undefined)),
      lost: this.lost,
      stats: this.server.stats(),
      wallSeconds: (performance.now() - this.startedAt) / 1000,
      lastParameters: this.server.lastParameters,
    });
  }

  /** stop, then SIGTERM, then SIGKILL every live worker; wait until all are gone; clean up. */
  private async stopAll(reason: string): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const alive = () => this.processes().filter((w) => !w.gone);
    // A tab rank nobody took has nothing to stop.
    for (const w of this.processes()) if (this.tabs?.isVacant(w.rank)) w.markGone();
    this.server.sendStop(reason);
    const allGone = Promise.all(this.processes().map((w) => w.whenGone));
    const wait = (ms: number) => Promise.race([allGone, new Promise((resolve) => setTimeout(resolve, ms))]);
    if (alive().length > 0 && !this.killedHard) await wait(STOP_GRACE_MS);
    for (const w of alive()) w.handle.kill('SIGTERM');
    if (alive().length > 0) await wait(this.options.killGraceMs ?? 2000);
    for (const w of alive()) w.handle.kill('SIGKILL');
    await allGone;
    this.tabs?.close();
    await this.closeTabSite?.();
    await this.server.close();
    this.refusals.close();
    this.socketDir.remove();
    for (const signal of STOP_SIGNALS) process.off(signal, this.onSignal);
  }

  /** A timer that stopAll() cancels. */
  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

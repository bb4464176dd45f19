// ModelSupervisor: the engines of one model and the hosts they run in (one engine process for all of them, or one
// worker thread each). When a host ends unexpectedly its engines' requests have already failed (WorkerClient); the
// supervisor starts it again after a backoff, and stops trying after a bound of quick failures in a row (a crash
// loop: reported in the log and /v1/status, and /ready turns false once no engine of the model serves).

import type { EngineWorkerData } from "../engine-worker/worker-messages.js";
import { describeExit } from "../exit-status.js";
import type { EngineExit, EngineHost, EngineIsolation } from "./engine-host.js";
import { WorkerClient, type WorkerClientEvents } from "./worker-client.js";

/** First restart delay; doubled for each quick failure in a row (0.25, 0.5, 1, 2, 4 s before the bound). */
const RESTART_BASE_MS = 250;
/** A host that served this long before it ended starts a new failure count (its failure was not a loop). */
const STABLE_MS = 60_000;
/** Quick failures in a row after which the supervisor gives up (the operator must look). */
const MAX_QUICK_FAILURES = 5;
/** How long a stopping engine process may take before it is killed. */
const STOP_KILL_MS = 12_000;

export interface SupervisorOptions {
  readonly model: string;
  readonly engines: number;
  /** `process`: one host for all the model's engines; `thread`: one host each. */
  readonly isolation: EngineIsolation;
  /** Start a host for these engines (process-host.ts or thread-host.ts). */
  readonly startHost: (engines: readonly EngineWorkerData[]) => EngineHost;
  readonly dataFor: (workerId: number) => EngineWorkerData;
  readonly clientEvents: WorkerClientEvents;
  readonly log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** The engine at this index was replaced by a fresh one: what was recorded about it (routing) is stale. */
  readonly onReplaced: (index: number) => void;
  /** An engine host ended or became ready (readiness may have changed). */
  readonly onChange: () => void;
}

export interface HostExitRecord {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Epoch ms. */
  readonly at: number;
}

/** What /v1/status shows about the host of one engine. */
export interface HostStatus {
  readonly isolation: EngineIsolation;
  readonly pid: number | null;
  readonly restarts: number;
  readonly lastExit: HostExitRecord | null;
  /** Host end → its engines ready again, for the latest restart. */
  readonly lastRecoveryMs: number | null;
  /** The host failed MAX_QUICK_FAILURES times in a row and is no longer restarted. */
  readonly crashLoop: boolean;
}

interface Group {
  readonly indexes: readonly number[];
  host: EngineHost;
  readyAt: number | null;
  everReady: boolean;
  restarts: number;
  quickFailures: number;
  lastExit: HostExitRecord | null;
  lastRecoveryMs: number | null;
  crashLoop: boolean;
  timer: NodeJS.Timeout | null;
}

export class ModelSupervisor {
  /** Engine i of the model; entries are replaced in place on restart (routing holds this array). */
  readonly clients: WorkerClient[] = [];
  private readonly groups: Group[] = [];
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    const all = Array.from({ length: opts.engines }, (_, i) => i);
    const sets = opts.isolation === "process" ? [all] : all.map((i) => [i]);
    for (const indexes of sets) this.groups.push(this.launch(indexes, null));
  }

  /** Resolves when every engine has loaded; rejects with the first load failure. */
  ready(): Promise<void> {
    return Promise.all(this.clients.map((c) => c.ready())).then(() => undefined);
  }

  hostStatus(index: number): HostStatus {
    const g = this.groups.find((x) => x.indexes.includes(index)) as Group;
    return {
      isolation: g.host.isolation,
      pid: g.host.pid,
      restarts: g.restarts,
      lastExit: g.lastExit,
      lastRecoveryMs: g.lastRecoveryMs,
      crashLoop: g.crashLoop,
    };
  }

  /** Some host of this model is left down (a crash loop). */
  crashLooping(): boolean {
    return this.groups.some((g) => g.crashLoop);
  }

  /** Hosts started again after they ended, over all of this model's hosts. */
  restarts(): number {
    return this.groups.reduce((n, g) => n + g.restarts, 0);
  }

  /** Stop every engine cooperatively; an engine process that does not end in time is killed. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const g of this.groups) if (g.timer !== null) clearTimeout(g.timer);
    const stops = this.clients.map((c) => c.stop());
    const deadline = setTimeout(() => {
      for (const g of this.groups) g.host.kill();
    }, STOP_KILL_MS);
    deadline.unref();
    await Promise.all([...stops, ...this.groups.map((g) => g.host.exited)]);
    clearTimeout(deadline);
  }

  /** Start a host for these engines (a fresh group, or `group` again after its host ended). */
  private launch(indexes: readonly number[], group: Group | null): Group {
    const datas = indexes.map((i) => this.opts.dataFor(i));
    const host = this.opts.startHost(datas);
    const g: Group = group ?? {
      indexes,
      host,
      readyAt: null,
      everReady: false,
      restarts: 0,
      quickFailures: 0,
      lastExit: null,
      lastRecoveryMs: null,
      crashLoop: false,
      timer: null,
    };
    g.host = host;
    g.readyAt = null;
    g.timer = null;
    indexes.forEach((index, j) => {
      this.clients[index] = new WorkerClient(datas[j] as EngineWorkerData, host.links[j] as (typeof host.links)[number], host.exited, this.opts.clientEvents);
      if (group !== null) this.opts.onReplaced(index);
    });
    Promise.all(indexes.map((i) => (this.clients[i] as WorkerClient).ready())).then(
      () => this.onReady(g, host),
      // A load that failed ends its host (onExit decides what next); a restart's failure is only visible here.
      (err: unknown) => {
        if (group !== null) this.opts.log("error", "engine failed to start", { model: this.opts.model, why: err instanceof Error ? err.message : String(err) });
      },
    );
    void host.exited.then((exit) => this.onExit(g, host, exit));
    return g;
  }

  private onReady(g: Group, host: EngineHost): void {
    if (g.host !== host) return;
    g.readyAt = Date.now();
    g.everReady = true;
    this.opts.onChange();
    if (g.lastExit === null) return;
    g.lastRecoveryMs = g.readyAt - g.lastExit.at;
    this.opts.log("info", "engine restarted and serving", { model: this.opts.model, pid: host.pid, restarts: g.restarts, recoveryMs: g.lastRecoveryMs });
  }

  private onExit(g: Group, host: EngineHost, exit: EngineExit): void {
    if (g.host !== host || this.stopping) return;
    const now = Date.now();
    g.lastExit = { code: exit.code, signal: exit.signal, at: now };
    this.opts.onChange();
    // An engine that never loaded at start-up: start-up reports the failure (nothing was serving to restart).
    if (!g.everReady) return;
    g.quickFailures = g.readyAt !== null && now - g.readyAt >= STABLE_MS ? 1 : g.quickFailures + 1;
    const fields = { model: this.opts.model, pid: host.pid, isolation: host.isolation, code: exit.code, signal: exit.signal };
    if (g.quickFailures > MAX_QUICK_FAILURES) {
      g.crashLoop = true;
      this.opts.log("error", `engine ${describeExit(exit.code, exit.signal)}; it failed ${MAX_QUICK_FAILURES + 1} times in a row: not restarting`, fields);
      return;
    }
    const delayMs = RESTART_BASE_MS * 2 ** (g.quickFailures - 1);
    this.opts.log("error", `engine ${describeExit(exit.code, exit.signal)}; restarting`, { ...fields, delayMs, restarts: g.restarts + 1 });
    g.timer = setTimeout(() => {
      if (this.stopping) return;
      g.restarts++;
      this.launch(g.indexes, g);
    }, delayMs);
    g.timer.unref();
  }
}

// Unit tests for ModelSupervisor over fake hosts (no model, fake timers): a host that ends fails its engines and is
// started again after a backoff that doubles per quick failure; after the bound it is left down (crash loop); a host
// that served long enough starts a new count; thread isolation restarts only the engine that ended; an engine that
// never loaded is not restarted; stop asks cooperatively and kills a process that does not end in time.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ModelSupervisor, type SupervisorOptions } from "../../../src/engine/model-supervisor.js";
import { unstartedHost, type EngineExit, type EngineHost, type EngineIsolation, type EngineLink } from "../../../src/engine/engine-host.js";
import { NO_OBSERVER } from "../../../src/engine/request-stats.js";
import { PROTOCOL_VERSION, type EngineWorkerData, type FromWorker, type ToWorker } from "../../../src/engine-worker/worker-messages.js";

interface FakeHost extends EngineHost {
  end(exit: EngineExit): void;
  readonly received: ToWorker[];
  /** Ignore shutdown (an engine stuck in native code). */
  stuck: boolean;
}

function fakeHost(engines: readonly EngineWorkerData[], hosts: FakeHost[], loads: "ready" | "fail"): FakeHost {
  let resolveExit: (e: EngineExit) => void = () => {};
  const exited = new Promise<EngineExit>((r) => (resolveExit = r));
  let ended = false;
  const handlers: ((m: FromWorker) => void)[] = [];
  const host: FakeHost = {
    isolation: "process",
    pid: 1000 + hosts.length,
    received: [],
    stuck: false,
    links: engines.map((_, i): EngineLink => ({
      post: (msg) => {
        host.received.push(msg);
        if (msg.type === "shutdown" && !host.stuck) host.end({ code: 0, signal: null });
      },
      onMessage: (h) => void (handlers[i] = h),
      onError: () => {},
    })),
    exited,
    kill: () => host.end({ code: null, signal: "SIGKILL" }),
    end: (exit) => {
      if (ended) return;
      ended = true;
      resolveExit(exit);
    },
  };
  queueMicrotask(() => {
    for (const h of handlers) {
      if (loads === "ready") h({ type: "ready", info: {} as never, stats: null as never });
      else h({ type: "fatal", error: { code: "invalid_request", message: "cannot load", param: null } });
    }
    if (loads === "fail") host.end({ code: 1, signal: null });
  });
  hosts.push(host);
  return host;
}

function data(workerId: number): EngineWorkerData {
  return { version: PROTOCOL_VERSION, workerId, modelName: "m", modelPath: "/m.gguf", draftModelPath: null } as EngineWorkerData;
}

/** `plan`: how each host started in turn loads (then "ready"). */
function supervisor(isolation: EngineIsolation, engines: number, plan: ("ready" | "fail")[] = []) {
  const hosts: FakeHost[] = [];
  const replaced: number[] = [];
  const logs: string[] = [];
  let changes = 0;
  const opts: SupervisorOptions = {
    model: "m",
    engines,
    isolation,
    startHost: (e) => fakeHost(e, hosts, plan.shift() ?? "ready"),
    dataFor: data,
    clientEvents: { observer: NO_OBSERVER, captureContent: false },
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    onReplaced: (i) => replaced.push(i),
    onChange: () => changes++,
  };
  return { sup: new ModelSupervisor(opts), hosts, replaced, logs, changes: () => changes };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const lastHost = (hosts: readonly FakeHost[]): FakeHost => hosts[hosts.length - 1] as FakeHost;

describe("ModelSupervisor", () => {
  it("process isolation: one host for every engine; a crash fails both and restarts them after the backoff", async () => {
    const { sup, hosts, replaced, logs, changes } = supervisor("process", 2);
    await sup.ready();
    expect(hosts).toHaveLength(1);
    expect(sup.clients.map((c) => c.state)).toEqual(["ready", "ready"]);
    const before = changes();

    hosts[0]?.end({ code: null, signal: "SIGSEGV" });
    await vi.advanceTimersByTimeAsync(0);
    expect(sup.clients.map((c) => c.state)).toEqual(["failed", "failed"]);
    expect(sup.hostStatus(1)).toMatchObject({ pid: 1000, restarts: 0, lastExit: { code: null, signal: "SIGSEGV" }, crashLoop: false });
    expect(changes()).toBeGreaterThan(before);
    expect(logs.at(-1)).toMatch(/engine was killed by SIGSEGV; restarting/);

    await vi.advanceTimersByTimeAsync(249);
    expect(hosts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(hosts).toHaveLength(2);
    expect(replaced).toEqual([0, 1]);
    expect(sup.clients.map((c) => c.state)).toEqual(["ready", "ready"]);
    expect(sup.hostStatus(0)).toMatchObject({ pid: 1001, restarts: 1, lastRecoveryMs: 250 });
    expect(logs.at(-1)).toMatch(/restarted and serving/);
  });

  it("doubles the delay per quick failure and stops after the bound (a crash loop)", async () => {
    const { sup, hosts, logs } = supervisor("process", 1);
    await sup.ready();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const n = hosts.length;
      lastHost(hosts).end({ code: 134, signal: null });
      let waited = 0;
      while (hosts.length === n) {
        await vi.advanceTimersByTimeAsync(50);
        waited += 50;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
    lastHost(hosts).end({ code: 134, signal: null });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(hosts).toHaveLength(6);
    expect(sup.hostStatus(0)).toMatchObject({ crashLoop: true, restarts: 5, lastExit: { code: 134 } });
    expect(sup.crashLooping()).toBe(true);
    expect(logs.at(-1)).toMatch(/failed 6 times in a row: not restarting/);
  });

  it("a host that served for a minute before it ended starts a new count", async () => {
    const { sup, hosts } = supervisor("process", 1);
    await sup.ready();
    for (let i = 0; i < 3; i++) {
      lastHost(hosts).end({ code: 1, signal: null });
      await vi.advanceTimersByTimeAsync(5_000);
    }
    expect(hosts).toHaveLength(4); // delays 250, 500, 1000: each within the 5 s waited
    await vi.advanceTimersByTimeAsync(60_000);
    lastHost(hosts).end({ code: 1, signal: null });
    await vi.advanceTimersByTimeAsync(250);
    expect(hosts).toHaveLength(5);
  });

  it("thread isolation: one host per engine; only the one that ended restarts", async () => {
    const { sup, hosts, replaced } = supervisor("thread", 2);
    await sup.ready();
    expect(hosts).toHaveLength(2);
    hosts[1]?.end({ code: 70, signal: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(sup.clients.map((c) => c.state)).toEqual(["ready", "failed"]);
    await vi.advanceTimersByTimeAsync(250);
    expect(hosts).toHaveLength(3);
    expect(replaced).toEqual([1]);
    expect(sup.clients.map((c) => c.state)).toEqual(["ready", "ready"]);
    expect(sup.hostStatus(0).restarts).toBe(0);
    expect(sup.hostStatus(1).restarts).toBe(1);
  });

  it("an engine that never loaded at start-up is reported, not restarted", async () => {
    const { sup, hosts } = supervisor("process", 1, ["fail"]);
    await expect(sup.ready()).rejects.toThrow(/cannot load/);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hosts).toHaveLength(1);
    expect(sup.hostStatus(0).lastExit).toMatchObject({ code: 1 });
  });

  it("a restart whose load fails counts as a quick failure and is retried", async () => {
    const { sup, hosts } = supervisor("process", 1, ["ready", "fail", "ready"]);
    await sup.ready();
    hosts[0]?.end({ code: null, signal: "SIGKILL" });
    await vi.advanceTimersByTimeAsync(250);
    expect(hosts).toHaveLength(2);
    expect(sup.clients[0]?.state).toBe("failed");
    await vi.advanceTimersByTimeAsync(499);
    expect(hosts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(hosts).toHaveLength(3);
    expect(sup.clients[0]?.state).toBe("ready");
    expect(sup.hostStatus(0)).toMatchObject({ restarts: 2, lastExit: { code: 1 }, crashLoop: false });
  });

  it("stop during a backoff cancels the restart", async () => {
    const { sup, hosts } = supervisor("process", 1);
    await sup.ready();
    hosts[0]?.end({ code: null, signal: "SIGKILL" });
    await vi.advanceTimersByTimeAsync(100);
    await sup.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hosts).toHaveLength(1);
  });

  it("a host that could not be started at all counts as a failure and is retried", async () => {
    const hosts: FakeHost[] = [];
    let attempts = 0;
    const sup = new ModelSupervisor({
      model: "m",
      engines: 1,
      isolation: "process",
      startHost: (e) => (++attempts === 2 ? unstartedHost("process", e.length, new Error("spawn EAGAIN")) : fakeHost(e, hosts, "ready")),
      dataFor: data,
      clientEvents: { observer: NO_OBSERVER, captureContent: false },
      log: () => {},
      onReplaced: () => {},
      onChange: () => {},
    });
    await sup.ready();
    hosts[0]?.end({ code: null, signal: "SIGKILL" });
    await vi.advanceTimersByTimeAsync(250); // attempt 2: the fork fails
    expect(sup.clients[0]?.state).toBe("failed");
    expect(sup.hostStatus(0).pid).toBeNull();
    await vi.advanceTimersByTimeAsync(500); // attempt 3
    expect(attempts).toBe(3);
    expect(sup.clients[0]?.state).toBe("ready");
  });

  it("stop asks every engine to shut down and kills a host that does not end in time", async () => {
    const { sup, hosts } = supervisor("process", 2);
    await sup.ready();
    (hosts[0] as FakeHost).stuck = true;
    let stopped = false;
    void sup.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(hosts[0]?.received.filter((m) => m.type === "shutdown")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(11_000);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(true);
    expect(await hosts[0]?.exited).toEqual({ code: null, signal: "SIGKILL" });
    // Stopping is not a crash: nothing restarts.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hosts).toHaveLength(1);
  });
});

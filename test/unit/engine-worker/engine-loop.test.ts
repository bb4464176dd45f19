// EngineLoop against a scripted backend (no model): a request runs to its length and reports usage; cancels and
// deadlines take effect at the next step boundary, also while the prompt is still being tokenized; a failed step
// fails only its own sequences; shutdown ends everything; and with noisy, bursty step times every request still
// finishes with the right tokens, short ones overtake long ones, and no slot, KV position or sampler leaks.
import { describe, expect, it } from "vitest";
import { EngineLoop, type EngineLoopSink } from "../../../src/engine-worker/engine-loop.js";
import type { SequenceEvent } from "../../../src/engine-worker/worker-messages.js";
import type { ErrorData } from "../../../src/errors.js";
import { DEFAULT_SAMPLING, FREE_OUTPUT, type GenerateRequestFields, type StoppingParams } from "../../../src/request/generate-request.js";
import { PromptBuilder } from "../../../src/runtime/prompt-builder.js";
import type { TextTokenizer } from "../../../src/runtime/tokenizer-pool.js";
import { Xoshiro128 } from "../../../models/prng.js";
import { ScriptedBackend, type ScriptedBackendOptions } from "../../support/scripted-backend.js";

const STOPPING: StoppingParams = { maxTokens: 5, minTokens: 0, stop: [], stopTokenIds: [], ignoreEos: true, includeStopStr: false };

function request(text: string, stopping: Partial<StoppingParams> = {}): GenerateRequestFields {
  return {
    model: "m",
    prompt: { kind: "text", text },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { ...STOPPING, ...stopping },
    logprobs: null,
    output: FREE_OUTPUT,
  };
}

interface Recorded {
  readonly accepted: Map<string, number>;
  readonly rejected: Map<string, ErrorData>;
  readonly events: SequenceEvent[];
  readonly logs: string[];
  /** Resolves when `id` has finished or been rejected. */
  ended(id: string): Promise<void>;
}

function recorder(): Recorded & { sink: EngineLoopSink } {
  const waiters = new Map<string, (() => void)[]>();
  const done = new Set<string>();
  const end = (id: string): void => {
    done.add(id);
    for (const w of waiters.get(id) ?? []) w();
  };
  const r = {
    accepted: new Map<string, number>(),
    rejected: new Map<string, ErrorData>(),
    events: [] as SequenceEvent[],
    logs: [] as string[],
    ended: (id: string) => (done.has(id) ? Promise.resolve() : new Promise<void>((resolve) => waiters.set(id, [...(waiters.get(id) ?? []), resolve]))),
  };
  const sink: EngineLoopSink = {
    accepted: (id, n) => r.accepted.set(id, n),
    rejected: (id, error) => {
      r.rejected.set(id, error);
      end(id);
    },
    step: (events) => {
      r.events.push(...events);
      for (const e of events) if (e.finish !== undefined) end(e.id);
    },
    log: (level, message) => r.logs.push(`${level}: ${message}`),
  };
  return { ...r, sink };
}

function setup(opts: Partial<ScriptedBackendOptions> = {}, tokenizer: TextTokenizer | null = null) {
  const backend = new ScriptedBackend({ slots: 4, ...opts });
  const rec = recorder();
  const loop = new EngineLoop(backend, { slots: 4, batchSize: 64, itlTargetMs: 0 }, rec.sink, new PromptBuilder(backend, tokenizer));
  const running = loop.run();
  return { backend, rec, loop, running };
}

const text = (rec: Recorded, id: string): string =>
  rec.events
    .filter((e) => e.id === id)
    .map((e) => e.text)
    .join("");
const finishOf = (rec: Recorded, id: string) => rec.events.find((e) => e.id === id && e.finish !== undefined)?.finish;

describe("EngineLoop", () => {
  it("runs a request to its length: accepted with its prompt size, deltas, then a finish with usage and timings", async () => {
    const { backend, rec, loop, running } = setup();
    loop.submit("r1", request("hello"));
    await rec.ended("r1");
    expect(rec.accepted.get("r1")).toBe(5);
    expect(text(rec, "r1")).toBe("abcde");
    expect(finishOf(rec, "r1")).toMatchObject({ reason: "length", usage: { promptTokens: 5, completionTokens: 5, cachedTokens: 0 } });
    expect(finishOf(rec, "r1")?.timings?.decodeMs).toBeGreaterThanOrEqual(0);
    loop.shutdown();
    await running;
    expect(backend.liveSamplers).toBe(0);
  });

  it("after idle, requests arriving a millisecond apart start in one step; one arriving much later does not delay it", async () => {
    const { backend, rec, loop, running } = setup();
    const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
    loop.submit("a", request("aaa"));
    await tick(1);
    loop.submit("b", request("bbb"));
    await tick(1);
    loop.submit("c", request("ccc"));
    await Promise.all(["a", "b", "c"].map((id) => rec.ended(id)));
    expect(backend.stepsRun[0]?.entries.map((e) => e.seqId).sort()).toEqual(["a", "b", "c"]);
    const before = backend.stepsRun.length;
    loop.submit("d", request("ddd"));
    await tick(40);
    loop.submit("late", request("eee"));
    await Promise.all([rec.ended("d"), rec.ended("late")]);
    expect(backend.stepsRun[before]?.entries.map((e) => e.seqId)).toEqual(["d"]);
    loop.shutdown();
    await running;
  });

  it("cancels at the next step boundary with its usage so far; a deadline cancel carries deadline_exceeded", async () => {
    const { backend, rec, loop, running } = setup({ stepMs: () => 2 });
    loop.submit("c", request("x", { maxTokens: 100 }));
    loop.submit("d", request("y", { maxTokens: 100 }));
    while (text(rec, "c").length < 3) await new Promise((r) => setTimeout(r, 1));
    loop.cancel("c", "cancelled");
    loop.cancel("d", "deadline_exceeded");
    await Promise.all([rec.ended("c"), rec.ended("d")]);
    expect(finishOf(rec, "c")).toMatchObject({ reason: "cancelled" });
    expect(finishOf(rec, "c")?.error).toBeUndefined();
    expect(finishOf(rec, "c")?.usage.completionTokens).toBeGreaterThanOrEqual(3);
    expect(finishOf(rec, "d")?.error?.code).toBe("deadline_exceeded");
    loop.shutdown();
    await running;
    expect(backend.liveSamplers).toBe(0);
    expect(backend.doubleReleases).toBe(0);
  });

  it("rejects a request cancelled while its prompt is tokenized off-thread, without scheduling it", async () => {
    let release: () => void = () => {};
    const slow: TextTokenizer = {
      tokenize: (t) => new Promise((resolve) => (release = () => resolve([...t].map((c) => c.charCodeAt(0))))),
      close: () => Promise.resolve(),
    };
    const { backend, rec, loop, running } = setup({ slotContextSize: 8192 }, slow);
    loop.submit("long", request("z".repeat(5000)));
    expect(loop.tokenizingCount).toBe(1);
    loop.cancel("long", "cancelled");
    release();
    await rec.ended("long");
    expect(rec.rejected.get("long")?.code).toBe("cancelled");
    expect(rec.accepted.has("long")).toBe(false);
    expect(loop.tokenizingCount).toBe(0);
    expect(backend.stepsRun.flatMap((p) => p.entries).some((e) => e.seqId === "long")).toBe(false);
    loop.shutdown();
    await running;
  });

  it("a failed step fails only the sequences in it, logs their request ids, and the loop keeps serving", async () => {
    const { rec, loop, running } = setup({ failStep: (n) => n === 2 });
    loop.submit("a", request("aa"), "client-req-7");
    await rec.ended("a");
    expect(finishOf(rec, "a")).toMatchObject({ reason: "error", error: { code: "engine_failure" } });
    expect(rec.logs).toEqual([expect.stringMatching(/^error: step 2 failed \(requests client-req-7\): /)]);
    loop.submit("b", request("bb"));
    await rec.ended("b");
    expect(finishOf(rec, "b")?.reason).toBe("length");
    loop.shutdown();
    await running;
  });

  it("shutdown cancels what runs, refuses new work, and run() returns", async () => {
    const { rec, loop, running } = setup({ stepMs: () => 1 });
    loop.submit("s", request("s", { maxTokens: 200 }));
    while (text(rec, "s").length < 2) await new Promise((r) => setTimeout(r, 1));
    loop.shutdown();
    await running;
    expect(finishOf(rec, "s")?.reason).toBe("cancelled");
    loop.submit("late", request("l"));
    expect(rec.rejected.get("late")?.code).toBe("unavailable");
  });

  it("with noisy, bursty step times, every request finishes right, short ones overtake long ones, nothing leaks", async () => {
    const rng = new Xoshiro128(42);
    // Mostly 0-3 ms steps, every so often a 25 ms stall (a noisy shared machine).
    const stepMs = (): number => (rng.nextU32() % 10 === 0 ? 25 : rng.nextU32() % 4);
    const { backend, rec, loop, running } = setup({ stepMs, slots: 4 });
    const order: string[] = [];
    const lengths = new Map<string, number>();
    for (let i = 0; i < 24; i++) {
      const id = `q${i}`;
      const long = i % 3 === 0;
      lengths.set(id, long ? 60 : 4);
      loop.submit(id, request(long ? "p".repeat(40) : "s", { maxTokens: long ? 60 : 4 }));
      void rec.ended(id).then(() => order.push(id));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all([...lengths.keys()].map((id) => rec.ended(id)));
    for (const [id, n] of lengths) {
      expect(finishOf(rec, id)).toMatchObject({ reason: "length", usage: { completionTokens: n } });
      expect(text(rec, id)).toBe("abcdefghijklmnopqrstuvwxyz".repeat(3).slice(0, n));
    }
    // The first long request (q0) is overtaken by short ones submitted after it.
    expect(order.indexOf("q0")).toBeGreaterThan(order.indexOf("q1"));
    loop.shutdown();
    await running;
    expect(loop.stats()).toMatchObject({ slotsBusy: 0, running: 0, waiting: 0 });
    expect(backend.liveSamplers).toBe(0);
    expect(backend.doubleReleases).toBe(0);
  });
});

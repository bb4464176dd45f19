// Unit tests for the pure Scheduler: chunked prefill within the step budget, one decode token per decoding sequence,
// continuous batching (join/leave between steps, slot reuse), FIFO admission, shortest-remaining-prompt-first with
// aging, the cohort rule, finish(), prefix reuse, and a seeded random simulation that checks the plan invariants on
// every step. With itlTargetMs 0 a step's prefill is whatever the batch leaves after decodes, so chunk sizes here
// are set through batchSize; the time-steered budget has its own tests (prefill-budget.test.ts).
// Steps are simulated with planStep + applyResult and a fake sampler whose token is 1000 + outputIndex.
import { describe, expect, it } from "vitest";
import { Scheduler, type SchedulerOptions, type SequenceUpdate } from "../../../src/engine-worker/scheduler.js";
import { InvariantError, Sequence } from "../../../src/engine-worker/sequence.js";
import type { SampledToken, StepPlan } from "../../../src/runtime/step-plan.js";

const range = (n: number, base = 100): number[] => Array.from({ length: n }, (_, i) => base + i);

let distinct = 0;
/** A prompt of n tokens (distinct from every other mk prompt, so none shares a prefix unless a test says so). */
function mk(s: Scheduler, id: string, prompt: number | readonly number[], maxNewTokens = 64): Sequence {
  const promptTokens = typeof prompt === "number" ? range(prompt, 100_000 * ++distinct) : prompt;
  const seq = new Sequence({ id, promptTokens, maxNewTokens, arrivalStep: s.step });
  s.submit(seq);
  return seq;
}

/** Deterministic fake sampler: every entry with a sampled position gets token 1000 + outputIndex. */
function sampledFor(plan: StepPlan): Map<string, SampledToken[]> {
  return new Map(plan.entries.filter((e) => e.sampleAt.length > 0).map((e) => [e.seqId, [{ token: 1000 + e.outputIndex }]]));
}

/** Plan + apply one step, checking the invariants that must hold for every plan. */
function step(s: Scheduler, batchSize?: number): { plan: StepPlan; updates: SequenceUpdate[] } {
  const plan = s.planStep();
  const ids = plan.entries.map((e) => e.seqId);
  expect(new Set(ids).size, "a sequence appears twice in one plan").toBe(ids.length);
  const slots = plan.entries.map((e) => e.slot);
  expect(new Set(slots).size, "a slot appears twice in one plan").toBe(slots.length);
  let tokens = 0;
  for (const e of plan.entries) {
    const seq = s.get(e.seqId) as Sequence;
    expect(e.start).toBe(seq.computed);
    expect(e.tokens).toEqual(e.tokens.map((_, i) => seq.tokenAt(e.start + i)));
    expect(e.tokens.length).toBeGreaterThan(0);
    expect(s.slots.ownerOf(e.slot)).toBe(e.seqId);
    expect(e.outputIndex).toBe(seq.outputTokens.length);
    tokens += e.tokens.length;
  }
  expect(plan.decodeTokens + plan.prefillTokens).toBe(tokens);
  if (batchSize !== undefined) expect(tokens).toBeLessThanOrEqual(batchSize);
  const updates = s.applyResult(plan, { sampled: sampledFor(plan) });
  for (const id of ids) {
    const seq = s.get(id);
    if (seq !== undefined) expect(seq.computed).toBeLessThanOrEqual(seq.totalTokens);
  }
  return { plan, updates };
}

const opts = (o: Partial<SchedulerOptions> = {}): SchedulerOptions => ({ slots: 4, batchSize: 64, itlTargetMs: 0, ...o });
/** Each entry as [id, start, token count, whether it samples (always at its last token)]. */
const shape = (plan: StepPlan) =>
  plan.entries.map((e) => {
    expect(e.sampleAt.length === 0 || (e.sampleAt.length === 1 && e.sampleAt[0] === e.tokens.length - 1)).toBe(true);
    return [e.seqId, e.start, e.tokens.length, e.sampleAt.length > 0];
  });

/** A long-running stream "d", decoding from the next step on: the chunk limit applies only while something decodes. */
function startDecoder(s: Scheduler): Sequence {
  const d = mk(s, "d", range(1, 50_000), 100_000);
  step(s);
  return d;
}

describe("Scheduler: one request", () => {
  it("after idle, sends a prompt's first token from its own step, decodes it after what arrived meanwhile; then one token per step", () => {
    const s = new Scheduler(opts());
    const a = mk(s, "a", 10);
    const own = step(s);
    expect(shape(own.plan)).toEqual([["a", 0, 10, true]]);
    expect(own.updates.map((u) => [u.seq.id, u.token, u.firstToken])).toEqual([["a", 1000, true]]);
    expect(a.status).toBe("decoding");
    mk(s, "late", 8);
    expect(shape(step(s).plan)).toEqual([["late", 0, 8, true]]); // a waits for the prompt that joined its cohort
    const together = step(s);
    expect(shape(together.plan)).toEqual([
      ["a", 10, 1, true],
      ["late", 8, 1, true],
    ]);
    expect(together.updates.map((u) => [u.seq.id, u.token, u.firstToken])).toEqual([
      ["a", 1001, false],
      ["late", 1001, false],
    ]);
    s.finish("late", "stop");
    for (let i = 2; i <= 4; i++) {
      const { plan, updates } = step(s);
      expect(plan.entries).toEqual([{ seqId: "a", slot: 0, start: 9 + i, tokens: [999 + i], sampleAt: [0], outputIndex: i }]);
      expect({ decode: plan.decodeTokens, prefill: plan.prefillTokens }).toEqual({ decode: 1, prefill: 0 });
      expect(updates.map((u) => [u.token, u.firstToken])).toEqual([[1000 + i, false]]);
    }
    expect(a.outputTokens).toEqual([1000, 1001, 1002, 1003, 1004]);
  });

  it("decoding() (what gets drafts) already knows whether a finished prompt decodes next step", () => {
    const s = new Scheduler(opts());
    mk(s, "a", 10);
    step(s);
    expect(s.decoding().map((q) => q.id)).toEqual(["a"]); // alone: it decodes next step
    mk(s, "b", 8); // arrived between steps: a waits for it
    expect(s.decoding()).toEqual([]);
    expect(shape(step(s).plan)).toEqual([["b", 0, 8, true]]);
    expect(s.decoding().map((q) => q.id)).toEqual(["a", "b"]);
  });

  it("while a stream decodes, prefills in chunks and samples only on the chunk that ends the prompt", () => {
    const s = new Scheduler(opts({ batchSize: 5 })); // one decode + 4 prompt tokens per step
    startDecoder(s);
    const a = mk(s, "a", 10);
    const withoutD = (plan: StepPlan) => shape(plan).filter((e) => e[0] !== "d");
    expect(withoutD(step(s).plan)).toEqual([["a", 0, 4, false]]);
    expect(a.status).toBe("prefilling");
    expect(withoutD(step(s).plan)).toEqual([["a", 4, 4, false]]);
    const third = step(s);
    expect(withoutD(third.plan)).toEqual([["a", 8, 2, true]]);
    expect(third.plan.decodeTokens).toBe(1);
    expect(third.updates.filter((u) => u.seq.id === "a").map((u) => [u.token, u.firstToken])).toEqual([[1000, true]]);
    expect(a.status).toBe("decoding");
  });

  it("never puts more than batchSize tokens in a step, even with nothing decoding", () => {
    const s = new Scheduler(opts({ batchSize: 8 }));
    mk(s, "a", 50);
    mk(s, "b", 3);
    expect(shape(step(s, 8).plan)).toEqual([
      ["b", 0, 3, true], // shortest first
      ["a", 0, 5, false],
    ]);
    const { plan } = step(s, 8);
    expect(shape(plan)).toEqual([
      ["b", 3, 1, true], // never waits behind a prompt more than twice its length
      ["a", 5, 7, false],
    ]);
  });

  it("refuses batchSize < slots and submit of a sequence that is not waiting", () => {
    expect(() => new Scheduler({ slots: 4, batchSize: 3, itlTargetMs: 0 })).toThrow(InvariantError);
    const s = new Scheduler(opts());
    const a = mk(s, "a", 2);
    step(s);
    expect(() => s.submit(a)).toThrow(InvariantError);
  });

  it("throws when a planned sample is missing from the result", () => {
    const s = new Scheduler(opts());
    mk(s, "a", 1); // one token: nothing to hold back
    const plan = s.planStep();
    expect(() => s.applyResult(plan, { sampled: new Map() })).toThrow(InvariantError);
  });
});

describe("Scheduler: many sequences", () => {
  it("cohort: prompts of similar length that arrive together with nothing decoding send first tokens as they finish, then decode together", () => {
    const s = new Scheduler({ slots: 8, batchSize: 16, itlTargetMs: 0 });
    const seqs = ["a", "b", "c", "e"].map((id) => mk(s, id, 10));
    const firsts: number[] = [];
    const decodes: number[] = [];
    for (let n = 0; n < 4; n++) {
      const { plan, updates } = step(s, 16);
      if (n < 2) expect(plan.prefillTokens).toBe(16); // waiting streams never shrink the batch
      firsts.push(updates.filter((u) => u.firstToken).length);
      decodes.push(plan.decodeTokens);
    }
    expect(firsts).toEqual([1, 2, 1, 0]); // 40 prompt tokens: steps of 16, 16, then the rest
    expect(decodes).toEqual([0, 0, 0, 4]); // every second token in one step
    expect(seqs.every((q) => q.status === "decoding" && !q.heldForCohort)).toBe(true);
  });

  it("cohort: a short prompt is not held behind one more than twice its length, and nothing is held while streams decode", () => {
    const lone = new Scheduler({ slots: 8, batchSize: 16, itlTargetMs: 0 });
    mk(lone, "first", 100);
    step(lone, 16); // past the idle-start step; "first" stays unfinished for many steps
    const short = mk(lone, "short", 5);
    mk(lone, "long", 12); // 11 and 100 tokens left behind short: more than twice its length
    expect(step(lone, 16).updates.map((u) => u.seq.id)).toEqual(["short"]);
    expect(short.status).toBe("decoding");
    const busy = new Scheduler({ slots: 8, batchSize: 17, itlTargetMs: 0 });
    startDecoder(busy);
    mk(busy, "a", 10);
    mk(busy, "b", 10);
    // One decode + 16 prompt tokens: a finishes now although b does not (b's stream protection is the ITL target).
    expect(
      step(busy, 17)
        .updates.filter((u) => u.firstToken)
        .map((u) => u.seq.id),
    ).toEqual(["a"]);
  });

  it("16 decoders: exactly one 1-token decode entry per decoding sequence, never more than batchSize tokens", () => {
    const s = new Scheduler({ slots: 16, batchSize: 16, itlTargetMs: 0 });
    const seqs = Array.from({ length: 16 }, (_, i) => mk(s, `s${i}`, 3 + i));
    for (let n = 0; n < 100; n++) {
      const before = seqs.filter((q) => q.status === "decoding");
      const { plan } = step(s, 16);
      // Holds are released only while planning: a stream still held after it sat this step out.
      const decoding = before.filter((q) => !q.heldForCohort).map((q) => q.id);
      const decodes = plan.entries.filter((e) => decoding.includes(e.seqId));
      expect(decodes.map((e) => e.seqId).sort()).toEqual([...decoding].sort());
      expect(decodes.every((e) => e.tokens.length === 1 && e.sampleAt.length === 1)).toBe(true);
      expect(plan.decodeTokens).toBe(decoding.length);
    }
    expect(seqs.every((q) => q.status === "decoding")).toBe(true);
  });

  it("continuous batching: a newcomer joins at the next step; a finished one's slot goes to a waiter", () => {
    const s = new Scheduler(opts({ slots: 2 }));
    mk(s, "a", 4);
    step(s); // the prompt, its first token sampled
    step(s); // nothing joined: it decodes
    const b = mk(s, "b", 4);
    const joined = step(s).plan;
    expect(shape(joined)).toEqual([
      ["a", 5, 1, true],
      ["b", 0, 4, true],
    ]);
    const c = mk(s, "c", range(4, 500));
    step(s);
    expect(c.status).toBe("waiting");
    const bSlot = b.slot;
    s.finish("b", "stop");
    const next = step(s).plan;
    expect(c.slot).toBe(bSlot);
    expect(shape(next)).toEqual([
      ["a", 7, 1, true],
      ["c", 0, 4, true],
    ]);
  });

  it("more requests than slots wait and are admitted FIFO as slots free, whatever their prompt length", () => {
    const s = new Scheduler(opts({ slots: 2 }));
    const lens = [5, 5, 30, 2, 9];
    const seqs = lens.map((n, i) => mk(s, `r${i}`, n));
    for (let n = 0; n < 30 && seqs.some((q) => q.status === "waiting"); n++) {
      const { updates } = step(s);
      // FIFO: the admitted sequences are always a prefix of the submission order.
      const admitted = seqs.map((q) => q.status !== "waiting");
      expect(admitted).toEqual([...admitted].sort((x, y) => Number(y) - Number(x)));
      expect(s.slots.busy).toBeLessThanOrEqual(2);
      expect(s.waitingCount).toBe(admitted.filter((x) => !x).length);
      for (const u of updates) if (u.firstToken) s.finish(u.seq.id, "length");
    }
    expect(seqs.every((q) => q.status !== "waiting")).toBe(true);
  });

  it("a short prompt arriving behind long ones gets its prefill first", () => {
    const s = new Scheduler(opts({ batchSize: 9 })); // one decode + 8 prompt tokens per step
    startDecoder(s);
    mk(s, "long1", 40);
    mk(s, "long2", 40);
    step(s);
    mk(s, "short", 5);
    const { plan } = step(s);
    const prefills = plan.entries.filter((e) => e.seqId !== "d");
    expect(prefills[0]).toMatchObject({ seqId: "short", start: 0 });
    expect(prefills[0]?.sampleAt).toEqual([(prefills[0]?.tokens.length ?? 0) - 1]);
    expect(prefills[0]?.tokens.length).toBe(5);
    expect(plan.prefillTokens).toBe(8);
  });

  /** A long prompt against one new short prompt per step (each short leaves after its first token). */
  function starve(agingStepsPerToken: number, steps: number): { firstLongStep: number | null; long: Sequence } {
    const s = new Scheduler({ slots: 3, batchSize: 9, itlTargetMs: 0, agingStepsPerToken });
    startDecoder(s);
    const long = mk(s, "long", 64);
    let firstLongStep: number | null = null;
    for (let n = 0; n < steps; n++) {
      mk(s, `short${n}`, range(8, 10_000 + 100 * n)); // distinct prompts: no prefix reuse
      const { plan, updates } = step(s, 9);
      const firstPrefill = plan.entries.find((e) => e.start < (s.get(e.seqId)?.promptTokens.length ?? 0));
      if (firstLongStep === null && firstPrefill?.seqId === "long") firstLongStep = plan.step;
      for (const u of updates) if (u.seq.id !== "long" && u.seq.id !== "d") s.finish(u.seq.id, "length");
    }
    return { firstLongStep, long };
  }

  it("aging lets a long prompt go first against a stream of short ones", () => {
    const { firstLongStep, long } = starve(0.25, 40);
    expect(firstLongStep).not.toBeNull();
    expect(firstLongStep).toBeLessThanOrEqual(20);
    expect(long.status).toBe("decoding");
  });

  it("without aging the same stream starves the long prompt (the aging test above is not vacuous)", () => {
    const { firstLongStep, long } = starve(1e9, 40);
    expect(firstLongStep).toBeNull();
    expect(long.computed).toBe(0);
  });
});

describe("Scheduler: finish", () => {
  it("finishes a waiting sequence without touching slots", () => {
    const s = new Scheduler(opts({ slots: 1 }));
    mk(s, "a", 3);
    const b = mk(s, "b", 3);
    step(s);
    expect(s.finish("b", "cancelled")).toBe(b);
    expect({ status: b.status, reason: b.finishReason, waiting: s.waitingCount, busy: s.slots.busy }).toEqual({
      status: "finished",
      reason: "cancelled",
      waiting: 0,
      busy: 1,
    });
    expect(s.get("b")).toBeUndefined();
  });

  it("finishes a running sequence and frees its slot; an unknown or already finished id gives undefined", () => {
    const s = new Scheduler(opts({ slots: 2 }));
    const a = mk(s, "a", 3);
    step(s);
    expect(s.finish("a", "stop")).toBe(a);
    expect({ slot: a.slot, busy: s.slots.busy, owner: s.slots.ownerOf(0), running: s.runningCount, work: s.hasWork }).toEqual({
      slot: null,
      busy: 0,
      owner: null,
      running: 0,
      work: false,
    });
    expect(s.finish("a", "stop")).toBeUndefined();
    expect(s.finish("nope", "stop")).toBeUndefined();
  });

  it("applyResult ignores a sequence finished while its step ran", () => {
    const s = new Scheduler(opts());
    const a = mk(s, "a", 1);
    const b = mk(s, "b", 1);
    const plan = s.planStep();
    s.finish("a", "cancelled");
    const updates = s.applyResult(plan, { sampled: sampledFor(plan) });
    expect(updates.map((u) => u.seq.id)).toEqual(["b"]);
    expect({ out: a.outputTokens, computed: a.computed, status: a.status }).toEqual({ out: [], computed: 0, status: "finished" });
    expect(b.outputTokens).toEqual([1000]);
  });
});

describe("Scheduler: prefix reuse", () => {
  it("a follow-up with the same prefix reuses the finished sequence's cached tokens", () => {
    const s = new Scheduler(opts({ slots: 1 }));
    const a = mk(s, "a", [1, 2, 3, 4, 5, 6]);
    step(s);
    step(s);
    expect(a.outputTokens).toEqual([1000, 1001]);
    s.finish("a", "stop");
    expect(s.slots.cachedCells()).toBe(7); // prompt + first output; the last sample was never evaluated
    const b = mk(s, "b", [1, 2, 3, 4, 5, 6, 1000, 1001, 77]);
    const { plan } = step(s);
    expect(b.cachedTokens).toBe(7);
    expect(plan.entries).toEqual([{ seqId: "b", slot: 0, start: 7, tokens: [1001, 77], sampleAt: [1], outputIndex: 0 }]);
    expect(plan.kvOps).toEqual([]); // the slot held exactly the 7 reused tokens: nothing to erase
    expect(step(s).plan.entries).toEqual([{ seqId: "b", slot: 0, start: 9, tokens: [1000], sampleAt: [0], outputIndex: 1 }]);
  });

  it("gives back cached tokens so that a narrow rest fills one attention tile, where the backend says narrow chunks cost extra", () => {
    const s = new Scheduler(opts({ slots: 1, batchSize: 256, narrowPrefillPenaltyPerCell: 0.05 }));
    mk(s, "a", range(100));
    step(s);
    s.finish("a", "stop"); // the slot holds the 100 prompt tokens
    const b = mk(s, "b", [...range(100), ...range(20, 5000)]);
    const { plan } = step(s);
    // 20 rows after 100 cells: 20 × 100 × 0.05 = 100 tokens of penalty against 44 recomputed.
    expect(plan.kvOps).toEqual([{ kind: "erase", slot: 0, from: 56, to: null }]);
    expect(shape(plan)).toEqual([["b", 56, 64, true]]);
    expect(b.cachedTokens).toBe(56);
  });

  it("an identical prompt reuses all but its last token", () => {
    const s = new Scheduler(opts({ slots: 1 }));
    mk(s, "a", [1, 2, 3, 4]);
    step(s);
    s.finish("a", "stop");
    const b = mk(s, "b", [1, 2, 3, 4]);
    expect(shape(step(s).plan)).toEqual([["b", 3, 1, true]]);
    expect(b.cachedTokens).toBe(3);
  });
});

describe("Scheduler: random simulation", () => {
  /** mulberry32: seeded so failures reproduce. */
  function prng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (x + 0x6d2b79f5) >>> 0;
      let t = Math.imul(x ^ (x >>> 15), x | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  for (const seed of [1, 2, 3]) {
    it(`keeps every invariant over 300 steps of arrivals, finishes and cancels (seed ${seed})`, () => {
      const rand = prng(seed);
      const s = new Scheduler({ slots: 4, batchSize: seed === 3 ? 64 : 16, itlTargetMs: 0 });
      const all: Sequence[] = [];
      for (let n = 0; n < 300; n++) {
        if (rand() < 0.4) all.push(mk(s, `q${n}`, range(1 + Math.floor(rand() * 40), Math.floor(rand() * 3) * 10)));
        const decoding = all.filter((q) => q.status === "decoding");
        const mates = all.filter((q) => q.status === "prefilling" || q.status === "waiting");
        const { plan, updates } = step(s, seed === 3 ? 64 : 16);
        expect(plan.decodeTokens).toBe(decoding.filter((q) => !q.heldForCohort).length);
        // A stream waits only for a prompt of its cohort that is still prefilling, and never while others decode.
        const held = all.filter((q) => q.heldForCohort && q.status === "decoding" && decoding.includes(q));
        if (held.length > 0) expect(plan.decodeTokens).toBe(0);
        for (const q of held) expect(mates.some((p) => p.slot !== null && p.promptTokens.length <= 2 * q.promptTokens.length)).toBe(true);
        for (const u of updates) if (rand() < 0.2 || u.seq.outputTokens.length >= 10) s.finish(u.seq.id, "length");
        if (rand() < 0.05 && all.length > 0) s.finish((all[Math.floor(rand() * all.length)] as Sequence).id, "cancelled");
        expect(s.slots.busy).toBe(all.filter((q) => q.slot !== null).length);
        expect(s.runningCount + s.waitingCount).toBe(all.filter((q) => !q.isFinished).length);
      }
      expect(all.some((q) => q.cachedTokens > 0)).toBe(true);
    });
  }
});

describe("Scheduler: KV operations in the plan", () => {
  it("erases what a slot held beyond the prefix its new occupant reuses, before that step, once", () => {
    const s = new Scheduler(opts({ slots: 1 }));
    mk(s, "a", [1, 2, 3, 4, 5, 6]);
    step(s);
    step(s);
    s.finish("a", "stop"); // the slot holds 7 tokens: 1..6 and the first output
    mk(s, "b", [1, 2, 3, 9, 9]);
    const { plan } = step(s);
    expect(plan.kvOps).toEqual([{ kind: "erase", slot: 0, from: 3, to: null }]);
    expect(shape(plan)).toEqual([["b", 3, 2, true]]);
    expect(step(s).plan.kvOps).toEqual([]);
  });

  it("plans no KV operation for a fresh slot", () => {
    const s = new Scheduler(opts());
    mk(s, "a", 4);
    expect(step(s).plan.kvOps).toEqual([]);
  });
});

// The scheduler's side of speculation, pure: a decoding sequence's drafts become one verify entry (its last token and
// the drafts, every position sampled), capped by what its output may still grow by and by the batch; drafts never
// take the room prompts would get without them; drafts are used once; the accepted samples are all appended and the
// computed count covers the last token and the accepted drafts.
import { describe, expect, it } from "vitest";
import { Scheduler } from "../../../../src/engine-worker/scheduler.js";
import { Sequence } from "../../../../src/engine-worker/sequence.js";
import { MIN_CHUNK } from "../../../../src/engine-worker/prefill-budget.js";
import type { SampledToken, StepPlan } from "../../../../src/runtime/step-plan.js";

const range = (n: number, base: number): number[] => Array.from({ length: n }, (_, i) => base + i);

/** One step; every sampled position gets what `sample` says. */
function run(s: Scheduler, sample: (plan: StepPlan) => Map<string, SampledToken[]>): StepPlan {
  const plan = s.planStep();
  s.applyResult(plan, { sampled: sample(plan) });
  return plan;
}

const lastOnly = (plan: StepPlan): Map<string, SampledToken[]> =>
  new Map(plan.entries.filter((e) => e.sampleAt.length > 0).map((e) => [e.seqId, e.sampleAt.map(() => ({ token: 7 }))]));

function decoding(s: Scheduler, id: string, promptLen: number, maxNewTokens: number): Sequence {
  const seq = new Sequence({ id, promptTokens: range(promptLen, 1000 * id.length + promptLen), maxNewTokens, arrivalStep: s.step });
  s.submit(seq);
  while (seq.status !== "decoding") run(s, lastOnly);
  return seq;
}

describe("scheduler: verify entries", () => {
  it("puts the last token and the drafts in one entry, sampled everywhere, and appends what was accepted", () => {
    const s = new Scheduler({ slots: 2, batchSize: 64, itlTargetMs: 0 });
    const seq = decoding(s, "a", 8, 50);
    const before = seq.outputTokens.length;
    seq.drafts = [7, 7, 9, 7];
    const plan = s.planStep();
    const e = plan.entries.find((x) => x.seqId === "a");
    expect(e).toMatchObject({ verify: true, tokens: [7, 7, 7, 9, 7], sampleAt: [0, 1, 2, 3, 4], start: seq.computed });
    expect(plan.decodeTokens).toBe(5);
    // The model accepted two drafts and replaced the third with its own token 8.
    s.applyResult(plan, { sampled: new Map([["a", [{ token: 7 }, { token: 7 }, { token: 8 }]]]) });
    expect(seq.outputTokens.slice(before)).toEqual([7, 7, 8]);
    expect(seq.computed).toBe(seq.totalTokens - 1);
    expect([seq.drafted, seq.accepted]).toEqual([4, 2]);
    expect(seq.drafts).toEqual([]);
    expect(s.planStep().entries.find((x) => x.seqId === "a")?.verify).toBeUndefined();
  });

  it("caps drafts by what the output may still grow by", () => {
    const s = new Scheduler({ slots: 2, batchSize: 64, itlTargetMs: 0 });
    const seq = decoding(s, "b", 8, 4);
    seq.drafts = [7, 7, 7, 7, 7, 7];
    const e = s.planStep().entries.find((x) => x.seqId === "b");
    // One output so far: at most 4 - 1 - 1 drafts, so the step ends at the cap exactly.
    expect(e?.tokens.length).toBe(1 + (4 - seq.outputTokens.length - 1));
  });

  it("leaves waiting prompts the room they would get without drafts", () => {
    const s = new Scheduler({ slots: 4, batchSize: 64, itlTargetMs: 0 });
    const seq = decoding(s, "c", 8, 500);
    s.submit(new Sequence({ id: "p", promptTokens: range(200, 5_000), maxNewTokens: 4, arrivalStep: s.step }));
    seq.drafts = range(100, 7);
    const plan = s.planStep();
    expect(plan.prefillTokens).toBeGreaterThanOrEqual(MIN_CHUNK);
    expect(plan.decodeTokens + plan.prefillTokens).toBeLessThanOrEqual(64);
  });

  it("gives waiting prompts the chunk the latency target allows without drafts, not what is left after them", () => {
    const chunks = [false, true].map((withDrafts) => {
      const s = new Scheduler({ slots: 4, batchSize: 2048, itlTargetMs: 250 });
      const seq = decoding(s, "c", 8, 500);
      // Measured: one decode 10 ms, a 101-token verify 200 ms, a prompt token 1.5 ms beside one decode.
      const step = (decodeTokens: number, prefillTokens: number, ms: number): void =>
        s.observeStep({ step: 0, kvOps: [], entries: [], decodeTokens, prefillTokens }, ms);
      step(1, 0, 10);
      step(101, 0, 200);
      step(1, 100, 160);
      s.submit(new Sequence({ id: "p", promptTokens: range(400, 5_000), maxNewTokens: 4, arrivalStep: s.step }));
      if (withDrafts) seq.drafts = range(100, 7);
      const plan = s.planStep();
      expect(plan.decodeTokens).toBe(withDrafts ? 101 : 1);
      return plan.prefillTokens;
    });
    // (250 - 10) / 1.5 = 160 either way; the drafts' 190 ms would have left 33.
    expect(chunks).toEqual([160, 160]);
  });
});

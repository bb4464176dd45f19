// SpecPolicy: draft lengths from acceptance and measured step costs. A flat cost curve (memory-bound: a GPU, a small
// batch) gets long drafts; a curve where each extra token costs what a decode does (compute-bound: a CPU) gets none;
// low acceptance gets none; an unmeasured curve is explored; n-min drops short proposals.
import { describe, expect, it } from "vitest";
import { SpecPolicy, type StepCosts } from "../../../../src/engine-worker/speculation/spec-policy.js";

const flat: StepCosts = { decodeMs: (n) => 10 + 0.05 * n };
const linear: StepCosts = { decodeMs: (n) => 10 * n };
const unknown: StepCosts = { decodeMs: () => null };

function trained(rate: number): SpecPolicy {
  const p = new SpecPolicy({ nMax: 8, nMin: 1 });
  for (let i = 0; i < 50; i++) p.observe("s", 8, Math.round(8 * rate));
  return p;
}

describe("SpecPolicy", () => {
  it("estimates acceptance from verified steps (prior 1/2 before its first)", () => {
    const p = new SpecPolicy({ nMax: 8, nMin: 1 });
    expect(p.rate("s")).toBe(0.5);
    for (let i = 0; i < 30; i++) p.observe("s", 4, 4);
    expect(p.rate("s")).toBeGreaterThan(0.95);
    // Decayed counts: recent steps outweigh old ones.
    for (let i = 0; i < 60; i++) p.observe("s", 4, 0);
    expect(p.rate("s")).toBeLessThan(0.25);
    p.forget("s");
    expect(p.rate("s")).toBe(0.5);
  });

  it("gives a sequence the pooled rate as prior from its first verified step: long drafts where everyone accepts", () => {
    const p = new SpecPolicy({ nMax: 8, nMin: 1 });
    for (let s = 0; s < 20; s++) for (let i = 0; i < 5; i++) p.observe(`old${s}`, 8, 8);
    expect(p.pooledRate()).toBeGreaterThan(0.99);
    // Not yet verified: the neutral prior where a draft model proposes (its first look may carry the draft's catch-up
    // with the prompt); the pooled one where proposals are free (n-gram).
    expect(p.rate("new")).toBe(0.5);
    expect(p.rate("new", undefined, true)).toBe(p.pooledRate());
    const costs: StepCosts = { decodeMs: (n) => 10 + 0.9 * n };
    expect(p.draftLengths([{ seqId: "new", draftMs: 0 }], 1, costs).get("new")).toBe(8);
    expect(p.draftLengths([{ seqId: "new", draftMs: 0.5 }], 1, costs).get("new") ?? 0).toBeLessThan(8);
    p.observe("new", 2, 2);
    expect(p.rate("new")).toBeCloseTo((2 + p.pooledRate()) / 3, 9);
    expect(p.draftLengths([{ seqId: "new", draftMs: 0 }], 1, costs).get("new")).toBe(8);
    // Its own rejections still outweigh the prior within ten steps.
    for (let i = 0; i < 10; i++) p.observe("new", 8, 0);
    expect(p.rate("new")).toBeLessThan(0.25);
  });

  it("long drafts where verification is nearly free, none where each token costs a decode", () => {
    const p = trained(0.9);
    expect(p.draftLengths([{ seqId: "s", draftMs: 0 }], 1, flat).get("s")).toBe(8);
    expect(p.draftLengths([{ seqId: "s", draftMs: 0 }], 1, linear).has("s")).toBe(false);
  });

  it("none when acceptance is low or drafting costs more than it saves; explores an unmeasured curve", () => {
    const low = new SpecPolicy({ nMax: 8, nMin: 1 });
    for (let i = 0; i < 30; i++) low.observe("s", 4, 0);
    expect(low.draftLengths([{ seqId: "s", draftMs: 0 }], 1, { decodeMs: (n) => 10 + 2 * n }).has("s")).toBe(false);
    expect(
      trained(0.9)
        .draftLengths([{ seqId: "s", draftMs: 20 }], 1, flat)
        .has("s"),
    ).toBe(false);
    expect(new SpecPolicy({ nMax: 5, nMin: 1 }).draftLengths([{ seqId: "s", draftMs: 0 }], 1, unknown).get("s")).toBe(2);
  });

  it("gives sequences of alike acceptance one draft length (each length is a forward pass of its own)", () => {
    const p = new SpecPolicy({ nMax: 8, nMin: 1 });
    const ids = Array.from({ length: 8 }, (_, i) => `s${i}`);
    // Rates 0.99-1.0: slightly different, alike within the tolerance.
    ids.forEach((id, i) => {
      for (let j = 0; j < 30; j++) p.observe(id, 8, j % (10 + i) === 0 ? 7 : 8);
    });
    // Flat for 20 extra tokens, then steep: the best count (20) ends mid-level (2.5 drafts each).
    const costs: StepCosts = { decodeMs: (n) => (n <= 28 ? 10 + 0.1 * n : 10 + 5 * (n - 28)) };
    const k = p.draftLengths(
      ids.map((seqId) => ({ seqId, draftMs: 0 })),
      8,
      costs,
    );
    expect(new Set(k.values()).size).toBe(1);
    expect([2, 3]).toContain(k.get("s0"));
    expect(k.size).toBe(8);
  });

  it("shares a step's drafts across sequences best first, and drops proposals shorter than n-min", () => {
    const p = new SpecPolicy({ nMax: 8, nMin: 3 });
    for (let i = 0; i < 30; i++) p.observe("good", 8, 8);
    for (let i = 0; i < 30; i++) p.observe("poor", 8, 1);
    // A curve flat for 4 extra tokens, then steep: the good sequence gets them.
    const costs: StepCosts = { decodeMs: (n) => (n <= 6 ? 10 : 10 + 10 * (n - 6)) };
    const k = p.draftLengths(
      [
        { seqId: "good", draftMs: 0 },
        { seqId: "poor", draftMs: 0 },
      ],
      2,
      costs,
    );
    expect(k.get("good")).toBe(4);
    expect(k.has("poor")).toBe(false);
  });
});

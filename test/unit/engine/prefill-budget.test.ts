// Unit tests for the time-steered prefill budget: whole batch when nothing decodes, fixed chunk when steering is
// off, unlimited when chunking is off, probes before prefill cost is known, and a budget solved from a learned
// linear step-cost model that tracks the number of decoding streams.
import { describe, expect, it } from "vitest";
import { MIN_CHUNK, PrefillBudget, StepCostModel } from "../../../src/engine/prefill-budget.js";

/** A simulated machine: decode-only step 8 + 3·d ms, each prefill token 1.5 ms, ±5% deterministic jitter. */
function machine(d: number, p: number, i: number): number {
  return (8 + 3 * d + 1.5 * p) * (1 + 0.05 * Math.sin(i * 12.9898));
}

describe("PrefillBudget", () => {
  it("gives the whole batch when nothing is decoding", () => {
    expect(new PrefillBudget({ maxChunk: 64, itlFactor: 2, batchSize: 512 }).budget(0)).toBe(512);
  });

  it("is unlimited with chunking off and fixed with steering off", () => {
    expect(new PrefillBudget({ maxChunk: 0, itlFactor: 2, batchSize: 512 }).budget(4)).toBe(Number.POSITIVE_INFINITY);
    const fixed = new PrefillBudget({ maxChunk: 64, itlFactor: 0, batchSize: 512 });
    fixed.observe(4, 64, 1_000);
    expect(fixed.budget(4)).toBe(64);
  });

  it("never lets decodes plus prefill exceed the batch", () => {
    expect(new PrefillBudget({ maxChunk: 512, itlFactor: 0, batchSize: 64 }).budget(60)).toBe(4);
  });

  it("probes with MIN_CHUNK until prefill cost is known, then meets the target at every decode count", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, batchSize: 512 });
    expect(b.budget(4)).toBe(MIN_CHUNK);
    let i = 0;
    for (let round = 0; round < 40; round++) {
      for (const d of [2, 4, 8, 16]) {
        b.observe(d, 0, machine(d, 0, i++));
        const n = b.budget(d);
        b.observe(d, n, machine(d, n, i++));
      }
    }
    for (const d of [2, 4, 8, 16]) {
      const n = b.budget(d);
      const ratio = machine(d, n, 0) / machine(d, 0, 0);
      expect(ratio, `d=${d} budget ${n}`).toBeGreaterThan(1.7);
      expect(ratio, `d=${d} budget ${n}`).toBeLessThan(2.3);
    }
  });

  it("grows to the cap on a fast machine", () => {
    const b = new PrefillBudget({ maxChunk: 256, itlFactor: 2, batchSize: 512 });
    for (let i = 0; i < 60; i++) {
      const n = b.budget(4);
      b.observe(4, 0, 10);
      b.observe(4, n, 10 + 0.01 * n);
    }
    expect(b.budget(4)).toBe(256);
  });
});

describe("StepCostModel", () => {
  it("recovers a linear cost from noisy observations", () => {
    const m = new StepCostModel();
    for (let i = 0; i < 300; i++) m.observe(1 + (i % 16), (i * 37) % 100, machine(1 + (i % 16), (i * 37) % 100, i));
    expect(m.prefillMsPerToken).toBeGreaterThan(1.3);
    expect(m.prefillMsPerToken).toBeLessThan(1.7);
    expect(m.decodeMs(10)).toBeGreaterThan(34);
    expect(m.decodeMs(10)).toBeLessThan(42);
  });
});

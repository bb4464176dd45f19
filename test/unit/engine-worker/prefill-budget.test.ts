// Unit tests for the time-steered prefill budget: whole batch when nothing decodes, fixed chunk when steering is
// off, unlimited when chunking off, a decode-only probe when alone(d) is unknown, a budget that meets the target
// on a simulated machine at every decode count, the absolute floor, and no cold-start lock at a small chunk.
import { describe, expect, it } from "vitest";
import { MIN_CHUNK, PrefillBudget } from "../../../src/engine-worker/prefill-budget.js";

/** A simulated machine: decode-only step 8 + 3·d ms, each prefill token 1.5 ms, ±5% deterministic jitter. */
function machine(d: number, p: number, i: number): number {
  return (8 + 3 * d + 1.5 * p) * (1 + 0.05 * Math.sin(i * 12.9898));
}

/** Run `steps` planned steps at d decodes through the budget, feeding the simulated machine's times back. */
function drive(b: PrefillBudget, d: number, steps: number, start = 0): number[] {
  const chunks: number[] = [];
  for (let i = start; i < start + steps; i++) {
    const n = b.budget(d);
    chunks.push(n);
    b.observe(d, n, machine(d, n, i));
  }
  return chunks;
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

  it("probes with one decode-only step when nothing near d has been measured, then at most every 16 steps", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, batchSize: 512 });
    expect(b.budget(4)).toBe(0);
    expect(b.budget(4)).toBe(MIN_CHUNK); // rate-limited: no second probe in a row, and no cost known yet
    b.observe(4, 0, 20);
    expect(b.aloneMs(4)).toBe(20);
    expect(b.budget(5)).toBeGreaterThan(0); // 5 is within a quarter of 4: no probe
  });

  it("meets the target at every decode count", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, batchSize: 512 });
    let i = 0;
    for (let round = 0; round < 40; round++) for (const d of [2, 4, 8, 16]) drive(b, d, 3, (i += 3));
    for (const d of [2, 4, 8, 16]) {
      const n = b.budget(d);
      const ratio = machine(d, n, 0) / machine(d, 0, 0);
      expect(ratio, `d=${d} budget ${n}`).toBeGreaterThan(1.7);
      expect(ratio, `d=${d} budget ${n}`).toBeLessThan(2.3);
    }
  });

  it("lets a mixed step take the floor when decode-only steps are fast", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, itlFloorMs: 50, batchSize: 512 });
    drive(b, 1, 60);
    const n = b.budget(1);
    // alone(1) = 11 ms: factor 2 alone would allow ~7 tokens; the 50 ms floor allows (50 − 11) / 1.5 ≈ 26.
    expect(machine(1, n, 0)).toBeGreaterThan(45);
    expect(machine(1, n, 0)).toBeLessThan(55);
  });

  it("takes the whole batch in a burst: prefilling sequences ≥ burstRatio × decoding ones", () => {
    const b = new PrefillBudget({ maxChunk: 64, itlFactor: 2, itlFloorMs: 50, burstRatio: 4, batchSize: 512 });
    b.observe(2, 0, 14);
    expect(b.budget(2, 8)).toBe(510);
    expect(b.budget(2, 7)).toBeLessThan(64);
    expect(new PrefillBudget({ maxChunk: 64, itlFactor: 2, batchSize: 512 }).budget(2, 100)).toBeLessThanOrEqual(64);
  });

  it("interpolates and extrapolates decode-only time between measured decode counts", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, batchSize: 512 });
    expect(b.aloneMs(3)).toBeNull();
    b.observe(2, 0, 14);
    b.observe(6, 0, 26);
    expect(b.aloneMs(4)).toBeCloseTo(20);
    expect(b.aloneMs(10)).toBeCloseTo(38);
    expect(b.aloneMs(1)).toBeCloseTo(11);
  });

  it("does not stay at a small chunk when every step is mixed (a burst of arrivals)", () => {
    // The first prompt is prefilled alone (nothing decoding), then 15 prompts prefill while 1..16 streams decode.
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, itlFloorMs: 50, batchSize: 512 });
    b.observe(0, 128, 8 + 1.5 * 128);
    const chunks = drive(b, 1, 12);
    expect(chunks[0]).toBe(0); // the probe
    expect(Math.max(...chunks.slice(4))).toBeGreaterThan(20);
  });

  it("grows at most twice the largest measured chunk per step", () => {
    // Whole-prompt steps look cheap (0.2 ms/token); mixed tokens really cost 1.5 ms: growth must be gradual.
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 4, batchSize: 512 });
    b.observe(0, 500, 100);
    b.observe(4, 0, 20);
    const chunks = drive(b, 4, 10);
    for (let k = 0; k < chunks.length; k++) expect(chunks[k]).toBeLessThanOrEqual(Math.max(MIN_CHUNK, 2 * Math.max(0, ...chunks.slice(0, k))));
    for (let k = 0; k < chunks.length; k++) expect(machine(4, chunks[k] as number, 0) / machine(4, 0, 0)).toBeLessThan(4.6);
    const n = b.budget(4);
    expect(machine(4, n, 0) / machine(4, 0, 0)).toBeLessThan(4.6);
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

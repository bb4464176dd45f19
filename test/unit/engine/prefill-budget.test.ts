// Unit tests for the time-steered prefill budget: whole batch when nothing decodes, fixed chunk when steering is
// off, unlimited when chunking is off, and a chunk that converges to where mixed steps meet the target.
import { describe, expect, it } from "vitest";
import { MIN_CHUNK, PrefillBudget } from "../../../src/engine/prefill-budget.js";

describe("PrefillBudget", () => {
  it("gives the whole batch when nothing is decoding", () => {
    const b = new PrefillBudget({ maxChunk: 64, itlFactor: 2, batchSize: 512 });
    expect(b.budget(0)).toBe(512);
  });

  it("is unlimited with chunking off and fixed with steering off", () => {
    expect(new PrefillBudget({ maxChunk: 0, itlFactor: 2, batchSize: 512 }).budget(4)).toBe(Number.POSITIVE_INFINITY);
    const fixed = new PrefillBudget({ maxChunk: 64, itlFactor: 0, batchSize: 512 });
    fixed.observe(4, 64, 1_000);
    expect(fixed.budget(4)).toBe(64);
  });

  it("never lets decodes plus prefill exceed the batch", () => {
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 0, batchSize: 64 });
    expect(b.budget(60)).toBe(4);
  });

  it("converges to the chunk whose steps meet the target, on a simulated machine", () => {
    // Simulated cost: a decode-only step takes 20 ms; each prefill token adds 1.5 ms. Target 2× → ~13 tokens.
    const b = new PrefillBudget({ maxChunk: 512, itlFactor: 2, batchSize: 512 });
    expect(b.budget(4)).toBe(MIN_CHUNK);
    for (let i = 0; i < 5; i++) b.observe(4, 0, 20);
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      const n = b.budget(4);
      b.observe(4, n, 20 + 1.5 * n);
      seen.push(n);
    }
    const tail = seen.slice(-50);
    expect(Math.max(...tail)).toBeLessThanOrEqual(Math.ceil(13.4 * 1.15) + 1);
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(MIN_CHUNK);
    // On a fast machine (0.01 ms/token) it grows to the cap.
    const fast = new PrefillBudget({ maxChunk: 256, itlFactor: 2, batchSize: 512 });
    fast.observe(4, 0, 10);
    for (let i = 0; i < 100; i++) fast.observe(4, fast.budget(4), 10 + 0.01 * fast.budget(4));
    expect(fast.budget(4)).toBe(256);
  });
});

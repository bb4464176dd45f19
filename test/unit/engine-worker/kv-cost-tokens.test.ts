// Unit tests for kvCostTokens: KV operation costs in prefill tokens, at least MIN_COPY_GAIN for copies and restores
// (also before a prompt token's cost is measured), and a save that reads as prohibitive while its cost is unknown.
import { describe, expect, it } from "vitest";
import { kvCostTokens, MIN_COPY_GAIN } from "../../../src/engine-worker/kv-cost-tokens.js";

describe("kvCostTokens", () => {
  it("converts measured ms into prompt tokens at the measured per-token prefill cost", () => {
    const c = kvCostTokens(2, { copyMs: 40, restoreMsPerToken: 0.5, saveMsPerToken: 0.02 });
    expect(c.copyCostTokens).toBe(20);
    expect(c.restoreCostTokens?.(100)).toBe(25);
    expect(c.saveCostTokens?.(1000)).toBeCloseTo(10);
  });

  it("never prices a copy or restore below MIN_COPY_GAIN", () => {
    const c = kvCostTokens(2, { copyMs: 1, restoreMsPerToken: 0.001 });
    expect(c.copyCostTokens).toBe(MIN_COPY_GAIN);
    expect(c.restoreCostTokens?.(100)).toBe(MIN_COPY_GAIN);
  });

  it("before a prompt token's cost is known: copies and restores at MIN_COPY_GAIN, saves prohibitive", () => {
    const c = kvCostTokens(null, { copyMs: 40, restoreMsPerToken: 0.5, saveMsPerToken: 0.02 });
    expect(c.copyCostTokens).toBe(MIN_COPY_GAIN);
    expect(c.restoreCostTokens?.(1000)).toBe(MIN_COPY_GAIN);
    expect(c.saveCostTokens?.(1000)).toBe(Number.POSITIVE_INFINITY);
    expect(kvCostTokens(2, {}).saveCostTokens?.(1000)).toBe(Number.POSITIVE_INFINITY);
  });
});

// Narrow prompt chunks on CPU flash attention: how many cached tokens a cache hit gives back so its rest fills one
// attention tile (pure, no model).
import { describe, expect, it } from "vitest";
import { narrowPrefillBackoff } from "../../../src/engine-worker/narrow-prefill.js";
import { FA_TILE_ROWS } from "../../../src/runtime/narrow-prefill-cost.js";

/** The bench model's penalty: 1.3e-3 prefill tokens per row per context cell. */
const BENCH = (12 * 12 * 12 * 64) / 84_934_656;

describe("narrowPrefillBackoff", () => {
  it("gives back what fills the tile when the rest is narrow and the context long", () => {
    expect(narrowPrefillBackoff(50, 1000, BENCH)).toBe(FA_TILE_ROWS - 50);
    expect(narrowPrefillBackoff(40, 600, BENCH)).toBe(FA_TILE_ROWS - 40);
  });

  it("gives back nothing where the one-row path costs less than the recompute", () => {
    expect(narrowPrefillBackoff(50, 100, BENCH)).toBe(0); // 50 × 100 × 1.3e-3 = 6.5 tokens < 14 recomputed
    expect(narrowPrefillBackoff(1, 1000, BENCH)).toBe(0); // an identical prompt: 1.3 tokens < 63
    expect(narrowPrefillBackoff(20, 1000, BENCH)).toBe(0); // 26 < 44
  });

  it("gives back nothing without a penalty, for a wide rest, or with too little cached", () => {
    expect(narrowPrefillBackoff(50, 1000, 0)).toBe(0);
    expect(narrowPrefillBackoff(FA_TILE_ROWS, 1000, BENCH)).toBe(0);
    expect(narrowPrefillBackoff(300, 1000, BENCH)).toBe(0);
    expect(narrowPrefillBackoff(50, 10, 1)).toBe(0); // 14 to give back, 10 cached
  });
});

// The executor's split of one step into llama_decode calls of at most n_ubatch tokens: slot order, every token
// exactly once at its position, sampled positions re-based into the piece that holds them, nothing over the limit.
import { describe, expect, it } from "vitest";
import { splitIntoUbatches } from "../../../src/runtime/batch-executor.js";
import type { StepEntry } from "../../../src/runtime/step-plan.js";

const entry = (seqId: string, slot: number, start: number, n: number, sampleAt: number[]): StepEntry => ({
  seqId,
  slot,
  start,
  tokens: Array.from({ length: n }, (_, i) => 1000 * slot + start + i),
  sampleAt,
  outputIndex: 0,
});

describe("splitIntoUbatches", () => {
  it("keeps a step that fits in one call whole", () => {
    const entries = [entry("a", 0, 10, 1, [0]), entry("b", 1, 0, 5, [4])];
    expect(splitIntoUbatches(entries, 8)).toEqual([
      [
        { seqId: "a", slot: 0, start: 10, tokens: [10], sampleAt: [0] },
        { seqId: "b", slot: 1, start: 0, tokens: [1000, 1001, 1002, 1003, 1004], sampleAt: [4] },
      ],
    ]);
  });

  it("cuts an entry across calls at the right positions and moves its samples with their tokens", () => {
    const parts = splitIntoUbatches([entry("d", 2, 7, 1, [0]), entry("p", 3, 0, 10, [3, 9])], 4);
    expect(parts.map((p) => p.reduce((n, x) => n + x.tokens.length, 0))).toEqual([4, 4, 3]);
    expect(parts[0]).toEqual([
      { seqId: "d", slot: 2, start: 7, tokens: [2007], sampleAt: [0] },
      { seqId: "p", slot: 3, start: 0, tokens: [3000, 3001, 3002], sampleAt: [] },
    ]);
    expect(parts[1]).toEqual([{ seqId: "p", slot: 3, start: 3, tokens: [3003, 3004, 3005, 3006], sampleAt: [0] }]);
    expect(parts[2]).toEqual([{ seqId: "p", slot: 3, start: 7, tokens: [3007, 3008, 3009], sampleAt: [2] }]);
  });

  it("covers every token once, in order, under the limit, for many shapes", () => {
    for (const ub of [1, 2, 3, 7, 16, 512]) {
      const entries = [entry("a", 0, 0, 13, [12]), entry("b", 1, 5, 1, [0]), entry("c", 2, 0, 30, [0, 29]), entry("e", 3, 2, 2, [])];
      const parts = splitIntoUbatches(entries, ub);
      for (const p of parts) expect(p.reduce((n, x) => n + x.tokens.length, 0)).toBeLessThanOrEqual(ub);
      for (const e of entries) {
        const pieces = parts.flat().filter((x) => x.seqId === e.seqId);
        expect(pieces.flatMap((x) => x.tokens)).toEqual(e.tokens);
        expect(pieces.flatMap((x) => x.sampleAt.map((i) => x.start + i - e.start))).toEqual(e.sampleAt);
      }
    }
  });

  it("lists pieces in slot order, in one call and across calls (llama.cpp batches only consecutive sequence ids together)", () => {
    const entries = [entry("c", 5, 3, 1, [0]), entry("a", 1, 9, 1, [0]), entry("p", 3, 0, 6, [5]), entry("b", 2, 4, 1, [0])];
    expect(splitIntoUbatches(entries, 64).map((p) => p.map((x) => x.slot))).toEqual([[1, 2, 3, 5]]);
    expect(splitIntoUbatches(entries, 4).map((p) => p.map((x) => x.slot))).toEqual([[1, 2, 3], [3], [5]]);
    expect(entries.map((e) => e.slot)).toEqual([5, 1, 3, 2]);
  });

  it("refuses a ubatch below one token", () => {
    expect(() => splitIntoUbatches([entry("a", 0, 0, 1, [0])], 0)).toThrow(/ubatch/);
  });
});

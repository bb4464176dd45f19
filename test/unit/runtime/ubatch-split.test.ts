// The executor's split of one step into llama_decode calls of at most n_ubatch tokens: every token exactly once at
// its position, sampled positions re-based into the piece that holds them, nothing over the limit; and the calls
// shaped for the forward passes llama.cpp makes of them (passesOf below follows llama_batch_allocr::split_equal):
// one pass per run of consecutive slots with equal lengths, every prompt piece at its full width.
import { describe, expect, it } from "vitest";
import { splitIntoUbatches, type Piece } from "../../../src/runtime/ubatch-split.js";
import type { StepEntry } from "../../../src/runtime/step-plan.js";

const entry = (seqId: string, slot: number, start: number, n: number, sampleAt: number[]): StepEntry => ({
  seqId,
  slot,
  start,
  tokens: Array.from({ length: n }, (_, i) => 1000 * slot + start + i),
  sampleAt,
  outputIndex: 0,
});

/**
 * The passes llama.cpp (one KV stream per sequence) makes of one call, as [slot, rows] per sequence: reading the
 * batch in order, a pass takes sequences whose ids follow each other, then as many tokens from each as all have left.
 */
function passesOf(call: readonly Piece[], nUbatch: number): [number, number][][] {
  const seqOf = call.flatMap((p) => p.tokens.map(() => p.slot));
  const used = seqOf.map(() => false);
  const passes: [number, number][][] = [];
  while (used.includes(false)) {
    const set: number[] = [];
    seqOf.forEach((s, i) => {
      if (used[i] || set.includes(s) || (set.length > 0 && s !== (set.at(-1) as number) + 1)) return;
      set.push(s);
    });
    const left = set.map((s) => seqOf.flatMap((x, i) => (x === s && !used[i] ? [i] : [])));
    let rows = 0;
    while (left.every((l) => l.length > rows) && (rows + 1) * set.length <= nUbatch) rows++;
    for (const l of left) for (const i of l.slice(0, rows)) used[i] = true;
    passes.push(set.map((s) => [s, rows]));
  }
  return passes;
}

const allPasses = (entries: StepEntry[], ub: number): [number, number][][] => splitIntoUbatches(entries, ub).flatMap((c) => passesOf(c, ub));

describe("splitIntoUbatches", () => {
  it("keeps a step that fits in one call whole", () => {
    const entries = [entry("a", 0, 10, 1, [0]), entry("b", 1, 0, 5, [4])];
    expect(splitIntoUbatches(entries, 8)).toEqual([
      [
        { seqId: "b", slot: 1, start: 0, tokens: [1000, 1001, 1002, 1003, 1004], sampleAt: [4] },
        { seqId: "a", slot: 0, start: 10, tokens: [10], sampleAt: [0] },
      ],
    ]);
  });

  it("cuts an entry across calls at the right positions and moves its samples with their tokens", () => {
    const parts = splitIntoUbatches([entry("d", 2, 7, 1, [0]), entry("p", 3, 0, 150, [3, 149])], 100);
    // 99 tokens of room after the decode: one tile of 64 goes there, the rest (86) fits the next call.
    expect(parts.map((p) => p.map((x) => [x.slot, x.tokens.length]))).toEqual([
      [
        [3, 64],
        [2, 1],
      ],
      [[3, 86]],
    ]);
    expect(parts[0]?.[0]?.sampleAt).toEqual([3]);
    expect(parts[1]?.[0]).toMatchObject({ start: 64, sampleAt: [85] });
  });

  it("covers every token once, in order, under the limit, for many shapes", () => {
    for (const ub of [1, 2, 3, 7, 16, 64, 100, 512]) {
      const entries = [
        entry("a", 0, 0, 13, [12]),
        entry("b", 1, 5, 1, [0]),
        entry("c", 2, 0, 300, [0, 299]),
        entry("e", 3, 2, 2, []),
        entry("f", 5, 0, 70, [69]),
      ];
      const parts = splitIntoUbatches(entries, ub);
      for (const p of parts) expect(p.reduce((n, x) => n + x.tokens.length, 0)).toBeLessThanOrEqual(ub);
      for (const e of entries) {
        const pieces = parts.flat().filter((x) => x.seqId === e.seqId);
        expect(pieces.flatMap((x) => x.tokens)).toEqual(e.tokens);
        expect(pieces.flatMap((x) => x.sampleAt.map((i) => x.start + i - e.start))).toEqual(e.sampleAt);
      }
    }
  });

  it("makes one pass per run of consecutive slots, highest run first, whatever order the plan lists them in", () => {
    const entries = [entry("c", 5, 3, 1, [0]), entry("a", 1, 9, 1, [0]), entry("p", 3, 0, 6, [5]), entry("b", 2, 4, 1, [0])];
    expect(splitIntoUbatches(entries, 64).map((p) => p.map((x) => x.slot))).toEqual([[5, 3, 1, 2]]);
    expect(allPasses(entries, 64)).toEqual([
      [[5, 1]],
      [[3, 6]],
      [
        [1, 1],
        [2, 1],
      ],
    ]);
    expect(entries.map((e) => e.slot)).toEqual([5, 1, 3, 2]);
  });

  it("runs prompt rests beside a shorter neighbour at their own width (in slot order they ran at the neighbour's)", () => {
    // Decodes in slots 0-7, then prompt chunks of other lengths in the slots that follow.
    const entries = [
      ...Array.from({ length: 8 }, (_, s) => entry(`d${s}`, s, 500, 1, [0])),
      entry("p", 8, 0, 120, [119]),
      entry("q", 9, 0, 45, [44]),
      entry("r", 10, 0, 200, [199]),
    ];
    const passes = allPasses(entries, 512);
    expect(passes).toContainEqual([[8, 120]]);
    expect(passes).toContainEqual([[9, 45]]);
    expect(passes).toContainEqual([[10, 200]]);
    expect(passes).toContainEqual(Array.from({ length: 8 }, (_, s) => [s, 1]));
    expect(passes).toHaveLength(4);
  });

  it("keeps equal prompt rests whole across calls instead of cutting one into slivers", () => {
    // 7 rests of 82 tokens (slots 9-15) beside 8 decodes: 582 tokens, over one call of 512.
    const entries = [
      ...Array.from({ length: 8 }, (_, s) => entry(`d${s}`, s, 900, 1, [0])),
      ...Array.from({ length: 7 }, (_, i) => entry(`p${i}`, 9 + i, 830, 82, [81])),
    ];
    const passes = allPasses(entries, 512);
    for (const pass of passes) for (const [slot, rows] of pass) expect([slot, rows]).toEqual([slot, slot >= 9 ? 82 : 1]);
    expect(passes.flat().filter(([slot]) => slot >= 9)).toHaveLength(7);
  });

  it("cuts a prompt longer than a call at whole tiles of 64 rows", () => {
    const entries = [entry("d", 0, 10, 1, [0]), entry("p", 1, 0, 1000, [999])];
    const rows = allPasses(entries, 512)
      .flat()
      .filter(([slot]) => slot === 1)
      .map(([, n]) => n);
    expect(rows).toEqual([448, 512, 40]);
    expect(rows.slice(0, -1).every((n) => n % 64 === 0)).toBe(true);
  });

  it("refuses a ubatch below one token", () => {
    expect(() => splitIntoUbatches([entry("a", 0, 0, 1, [0])], 0)).toThrow(/ubatch/);
  });
});

// Unit tests for PrefixIndex (the radix tree over token ids): per-holder shared-prefix lengths for a query, the
// longest holder, replacing and deleting a holder's sequence (with edge splits and merges), and a seeded random
// comparison with a brute-force scan over every holder.
import { describe, expect, it } from "vitest";
import { PrefixIndex } from "../../../src/cache/prefix-index.js";
import { Fuzz } from "../../support/fuzz.js";

function bruteForce(held: Map<number, number[]>, query: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const [h, tokens] of held) {
    let i = 0;
    while (i < tokens.length && i < query.length && tokens[i] === query[i]) i++;
    if (i > 0) out.set(h, i);
  }
  return out;
}

describe("PrefixIndex", () => {
  it("an empty index matches nothing", () => {
    const idx = new PrefixIndex<number>();
    expect(idx.matchAll([1, 2, 3]).size).toBe(0);
    expect(idx.longest([1, 2, 3])).toBeNull();
    expect(idx.holders).toBe(0);
  });

  it("reports each holder's shared prefix, through split edges", () => {
    const idx = new PrefixIndex<string>();
    idx.set("a", [1, 2, 3, 4, 5]);
    idx.set("b", [1, 2, 3, 9]);
    idx.set("c", [1, 2]);
    idx.set("d", [7]);
    expect(Object.fromEntries(idx.matchAll([1, 2, 3, 4, 6]))).toEqual({ a: 4, b: 3, c: 2 });
    expect(Object.fromEntries(idx.matchAll([1, 2]))).toEqual({ a: 2, b: 2, c: 2 });
    expect(Object.fromEntries(idx.matchAll([1, 2, 3, 9, 9, 9]))).toEqual({ a: 3, b: 4, c: 2 });
    expect(idx.longest([1, 2, 3, 4, 5, 6])).toEqual({ holder: "a", length: 5 });
    expect(idx.longest([1, 2, 3, 4, 5, 6], (h) => h !== "a")).toEqual({ holder: "b", length: 3 });
    expect(idx.lengthOf("b")).toBe(4);
  });

  it("two holders of the same sequence both match; set replaces a holder's sequence", () => {
    const idx = new PrefixIndex<number>();
    idx.set(0, [5, 6, 7]);
    idx.set(1, [5, 6, 7]);
    expect(Object.fromEntries(idx.matchAll([5, 6, 7, 8]))).toEqual({ 0: 3, 1: 3 });
    idx.set(1, [5, 9]);
    expect(Object.fromEntries(idx.matchAll([5, 6, 7, 8]))).toEqual({ 0: 3, 1: 1 });
    expect(idx.holders).toBe(2);
  });

  it("delete forgets a holder and prunes its branch; an empty sequence holds nothing", () => {
    const idx = new PrefixIndex<number>();
    idx.set(0, [1, 2, 3]);
    idx.set(1, [1, 2, 4]);
    idx.delete(1);
    expect(Object.fromEntries(idx.matchAll([1, 2, 4]))).toEqual({ 0: 2 });
    idx.delete(0);
    expect(idx.matchAll([1, 2, 3]).size).toBe(0);
    idx.set(2, []);
    expect(idx.holders).toBe(0);
    idx.delete(42); // unknown: no-op
  });

  it("agrees with a brute-force scan over random sets, replacements and deletes", () => {
    const fuzz = new Fuzz(20261202);
    const rand = (): number => fuzz.next();
    const pick = (n: number): number => fuzz.int(n);
    const idx = new PrefixIndex<number>();
    const held = new Map<number, number[]>();
    const randomSeq = (): number[] => {
      // Shared stems make deep, branching trees: extend a held sequence or start from a small alphabet.
      const base = held.size > 0 && rand() < 0.7 ? ([...held.values()][pick(held.size)] as number[]) : [];
      const keep = base.slice(0, pick(base.length + 1));
      const extra = Array.from({ length: pick(6) }, () => pick(4));
      return [...keep, ...extra];
    };
    for (let round = 0; round < 3000; round++) {
      const holder = pick(12);
      if (rand() < 0.15) {
        idx.delete(holder);
        held.delete(holder);
      } else {
        const seq = randomSeq();
        idx.set(holder, seq);
        if (seq.length > 0) held.set(holder, seq);
        else held.delete(holder);
      }
      const query = randomSeq();
      expect(Object.fromEntries(idx.matchAll(query))).toEqual(Object.fromEntries(bruteForce(held, query)));
      expect(idx.holders).toBe(held.size);
    }
  });
});

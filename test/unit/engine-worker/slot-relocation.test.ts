// Slot relocation: a busy slot's occupant moves into a free slot when that joins runs of consecutive busy slots
// (each run is a forward pass of every decode step). Moves that join runs by themselves first; otherwise the
// shortest run moves onto the end of another, one slot per step. The copies must pay for themselves in passes
// saved over PAYBACK_STEPS steps, and only streams with more than that many tokens left move.
import { describe, expect, it } from "vitest";
import { Sequence } from "../../../src/engine-worker/sequence.js";
import { PAYBACK_STEPS, relocateStream } from "../../../src/engine-worker/slot-relocation.js";
import { DEFAULT_SCOPE, SlotTable, type PrefixQuery } from "../../../src/engine-worker/slot-table.js";

const q = (prompt: number[]): PrefixQuery => ({ scope: DEFAULT_SCOPE, prompt, reuse: true, copyCostTokens: 2 });

/** A table of `size` slots whose busy slots are exactly `busy` (slot i's occupant "s<i>", prompt [100 + i, 1, 2]). */
function layout(size: number, busy: readonly number[]): SlotTable {
  const t = new SlotTable(size);
  const top = Math.max(...busy);
  for (let slot = 0; slot <= top; slot++) {
    const got = t.acquire(`s${slot}`, q([100 + slot, 1, 2]));
    if (got === null || got === "wait" || got.slot !== slot) throw new Error(`slot ${slot} not handed out in order`);
    t.setCached(slot, DEFAULT_SCOPE, [100 + slot, 1, 2]);
  }
  for (let slot = 0; slot <= top; slot++) if (!busy.includes(slot)) t.release(slot);
  return t;
}

const all = (): boolean => true;
const busySlots = (t: SlotTable): number[] => Array.from({ length: t.size }, (_, s) => s).filter((s) => t.ownerOf(s) !== null);

describe("SlotTable.relocation", () => {
  it("moves a stream left alone next to the others", () => {
    const t = layout(16, [1, 8, 9, 10, 11, 12, 13, 14]);
    expect(t.relocation(all)).toMatchObject({ from: 1, runsSaved: 1, moves: 1 });
    // Slot 7 held a prompt; 15 never did: the move overwrites nothing there.
    expect(t.relocation(all)?.to).toBe(15);
  });

  it("moves the shortest run onto another run one slot at a time, then joins it", () => {
    const t = layout(16, [0, 1, 8, 9, 10, 11, 12, 13]);
    const first = t.relocation(all);
    expect(first).toMatchObject({ from: 0, to: 14, runsSaved: 1, moves: 2 });
    t.relocate(0, 14);
    expect(busySlots(t)).toEqual([1, 8, 9, 10, 11, 12, 13, 14]);
    expect(t.ownerOf(14)).toBe("s0");
    const second = t.relocation(all);
    expect(second).toMatchObject({ from: 1, to: 15, runsSaved: 1, moves: 1 });
    t.relocate(1, 15);
    expect(busySlots(t)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(t.relocation(all)).toBeNull();
  });

  it("a moved occupant's content is where it went, and the slot it left keeps a copy for reuse", () => {
    const t = layout(4, [0, 2, 3]);
    t.relocate(0, 1);
    expect(t.ownerOf(1)).toBe("s0");
    t.release(1);
    expect(t.acquire("again", q([100, 1, 2, 9]))).toMatchObject({ reusedTokens: 3 });
  });

  it("never moves what may not move, nor a slot of a run in the middle", () => {
    const t = layout(8, [0, 4, 5, 6]);
    expect(t.relocation((slot) => slot !== 0)).toBeNull();
    // One run: nothing to join.
    expect(layout(8, [2, 3, 4]).relocation(all)).toBeNull();
  });
});

describe("relocateStream", () => {
  function streams(t: SlotTable, left: number): Map<number, Sequence> {
    const m = new Map<number, Sequence>();
    for (const slot of busySlots(t)) {
      const seq = new Sequence({ id: `s${slot}`, promptTokens: [100 + slot, 1, 2], maxNewTokens: left, arrivalStep: 0 });
      seq.slot = slot;
      seq.computed = 3;
      m.set(slot, seq);
    }
    return m;
  }

  it("copies the stream's KV into its new slot when the passes saved pay for the copy", () => {
    const t = layout(16, [1, 8, 9, 10, 11, 12, 13, 14]);
    const s = streams(t, 100);
    const ops = relocateStream(t, s, { passMs: 10, copyMs: 30 });
    expect(ops).toEqual([
      { kind: "copy", fromSlot: 1, toSlot: 15 },
      { kind: "erase", slot: 15, from: 3, to: null },
    ]);
    expect(s.get(1)?.slot).toBe(15);
    expect(t.ownerOf(15)).toBe("s1");
  });

  it("stays put when the copies cost more than the passes saved, or the streams are nearly done", () => {
    const costly = layout(16, [0, 1, 8, 9, 10, 11, 12, 13]);
    // Two copies to save one pass: 2 × 90 ms against 16 × 10 ms.
    expect(relocateStream(costly, streams(costly, 100), { passMs: 10, copyMs: 90 })).toEqual([]);
    expect(relocateStream(costly, streams(costly, 100), { passMs: 10, copyMs: 70 })).toHaveLength(2);
    const ending = layout(16, [1, 8, 9, 10, 11, 12, 13, 14]);
    expect(relocateStream(ending, streams(ending, PAYBACK_STEPS), { passMs: 10, copyMs: 1 })).toEqual([]);
    expect(relocateStream(ending, streams(ending, 100), { passMs: null, copyMs: 1 })).toEqual([]);
  });
});

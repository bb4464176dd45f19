// Unit tests for SlotTable: slot ownership (acquire/release, busy/free), the longest-shared-prefix choice among free
// slots (ties to the lowest index, busy slots never chosen), the rule that a full-prompt match still leaves one
// prompt token to evaluate, and cachedCells for the KV gauge.
import { describe, expect, it } from "vitest";
import { SlotTable } from "../../../src/engine-worker/slot-table.js";

describe("SlotTable: ownership", () => {
  it("starts all free", () => {
    const t = new SlotTable(3);
    expect({ size: t.size, busy: t.busy, free: t.free }).toEqual({ size: 3, busy: 0, free: 3 });
    expect([0, 1, 2].map((s) => t.ownerOf(s))).toEqual([null, null, null]);
  });

  it("acquire hands out distinct slots, lowest first, until none is free", () => {
    const t = new SlotTable(3);
    const got = ["a", "b", "c"].map((id) => t.acquire(id, [1, 2]));
    expect(got.map((g) => g?.slot)).toEqual([0, 1, 2]);
    expect([0, 1, 2].map((s) => t.ownerOf(s))).toEqual(["a", "b", "c"]);
    expect({ busy: t.busy, free: t.free }).toEqual({ busy: 3, free: 0 });
    expect(t.acquire("d", [1, 2])).toBeNull();
  });

  it("release frees the slot for the next acquire", () => {
    const t = new SlotTable(2);
    t.acquire("a", [1]);
    t.acquire("b", [1]);
    t.release(0);
    expect({ busy: t.busy, free: t.free, owner0: t.ownerOf(0), owner1: t.ownerOf(1) }).toEqual({
      busy: 1,
      free: 1,
      owner0: null,
      owner1: "b",
    });
    expect(t.acquire("c", [1])?.slot).toBe(0);
    expect(t.ownerOf(0)).toBe("c");
  });

  it("ownerOf an out-of-range slot is null", () => {
    expect(new SlotTable(1).ownerOf(5)).toBeNull();
  });

  it("a zero-size table never hands out a slot", () => {
    const t = new SlotTable(0);
    expect(t.free).toBe(0);
    expect(t.acquire("a", [1])).toBeNull();
  });
});

describe("SlotTable: prefix reuse", () => {
  it("a fresh table reuses nothing", () => {
    expect(new SlotTable(2).acquire("a", [1, 2, 3])).toMatchObject({ slot: 0, reusedTokens: 0 });
  });

  it("picks the free slot sharing the longest prefix with the prompt", () => {
    const t = new SlotTable(3);
    t.setCached(0, [1, 2, 9]);
    t.setCached(1, [1, 2, 3, 4, 5]);
    t.setCached(2, [7, 7]);
    expect(t.acquire("a", [1, 2, 3, 4, 6, 6])).toMatchObject({ slot: 1, reusedTokens: 4 });
  });

  it("breaks ties by lowest index", () => {
    const t = new SlotTable(3);
    t.setCached(0, [5]);
    t.setCached(1, [1, 2, 8]);
    t.setCached(2, [1, 2, 9]);
    expect(t.acquire("a", [1, 2, 3])).toMatchObject({ slot: 1, reusedTokens: 2 });
  });

  it("with no shared prefix anywhere, takes the lowest free slot", () => {
    const t = new SlotTable(2);
    t.setCached(0, [4]);
    t.setCached(1, [5]);
    expect(t.acquire("a", [6, 7])).toMatchObject({ slot: 0, reusedTokens: 0 });
  });

  it("never chooses a busy slot, even with a better prefix", () => {
    const t = new SlotTable(2);
    t.setCached(0, [1, 2, 3]);
    expect(t.acquire("owner", [9])?.slot).toBe(0);
    expect(t.acquire("b", [1, 2, 3, 4])).toMatchObject({ slot: 1, reusedTokens: 0 });
    expect(t.ownerOf(0)).toBe("owner");
  });

  it("a prompt fully cached still leaves its last token to evaluate", () => {
    const t = new SlotTable(1);
    t.setCached(0, [1, 2, 3]);
    expect(t.acquire("a", [1, 2, 3])).toMatchObject({ slot: 0, reusedTokens: 2 });
  });

  it("a prompt that is a strict prefix of the cache also leaves one token", () => {
    const t = new SlotTable(1);
    t.setCached(0, [1, 2, 3, 4, 5, 6]);
    expect(t.acquire("a", [1, 2, 3])).toMatchObject({ slot: 0, reusedTokens: 2 });
  });

  it("a one-token prompt reuses nothing; an empty prompt never reports negative reuse", () => {
    const t = new SlotTable(2);
    t.setCached(0, [1, 2]);
    t.setCached(1, [1, 2]);
    expect(t.acquire("a", [1])).toMatchObject({ slot: 0, reusedTokens: 0 });
    expect(t.acquire("b", [])).toMatchObject({ slot: 1, reusedTokens: 0 });
  });

  it("keeps the cache across release so a follow-up turn reuses it", () => {
    const t = new SlotTable(2);
    const first = t.acquire("turn1", [1, 2, 3]);
    expect(first?.slot).toBe(0);
    t.setCached(0, [1, 2, 3, 40, 41]);
    t.release(0);
    t.setCached(1, [1]);
    expect(t.acquire("turn2", [1, 2, 3, 40, 41, 50, 51])).toMatchObject({ slot: 0, reusedTokens: 5 });
  });

  it("reports how many tokens the slot held, so what is not reused can be erased", () => {
    const t = new SlotTable(1);
    expect(t.acquire("a", [1, 2])?.heldTokens).toBe(0);
    t.setCached(0, [1, 2, 3, 4, 5]);
    t.release(0);
    expect(t.acquire("b", [1, 2, 9])).toEqual({ slot: 0, reusedTokens: 2, heldTokens: 5 });
  });
});

describe("SlotTable: cachedCells", () => {
  it("sums the cached tokens of every slot, busy or free", () => {
    const t = new SlotTable(3);
    expect(t.cachedCells()).toBe(0);
    t.setCached(0, [1, 2, 3]);
    t.setCached(2, [4, 5]);
    expect(t.cachedCells()).toBe(5);
    t.acquire("a", [9]);
    t.release(0);
    expect(t.cachedCells()).toBe(5);
    t.setCached(0, []);
    expect(t.cachedCells()).toBe(2);
  });
});

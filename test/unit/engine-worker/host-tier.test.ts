// Unit tests for HostTier's bookkeeping: entries count only once confirmed, the longest confirmed prefix is found,
// bytes stay within the budget by evicting the least recently used (never the file a step restores), a failed save
// is forgotten, a prefix too big for the budget is not planned, and entries with shown reuse are evicted after
// unproven ones until they fill their share (a segmented LRU).
import { describe, expect, it } from "vitest";
import { HostTier } from "../../../src/engine-worker/host-tier.js";

const key = (scope: number, from: number, n: number): number[] => [scope, ...Array.from({ length: n }, (_, i) => from + i)];

describe("HostTier", () => {
  it("an entry is found only after its save is confirmed, by the longest shared prefix", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 10_000, bytesPerToken: 10 });
    const planned = t.planSave(key(-1, 100, 50));
    expect(planned).toEqual({ path: "/d/1.kv", drops: [], moves: [] });
    expect(t.longest(key(-1, 100, 60))).toBeNull();
    expect(t.holds(key(-1, 100, 50))).toBe(true); // being saved: not planned twice
    t.confirm("/d/1.kv", 480);
    expect(t.longest([...key(-1, 100, 30), 7])).toEqual({ path: "/d/1.kv", length: 31 });
    expect(t.longest(key(-2, 100, 30))).toBeNull(); // another scope
    expect(t.stats()).toEqual({ entries: 1, bytes: 480, evictions: 0, diskEntries: 0, diskBytes: 0 });
  });

  it("keeps within its bytes by dropping the least recently used confirmed entries, never the one being restored", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 1_000, bytesPerToken: 10 });
    for (let i = 0; i < 3; i++) t.confirm(t.planSave(key(-1, 1000 * (i + 1), 30))?.path as string, 300);
    t.touch("/d/1.kv"); // 2 is now the least recently used
    expect(t.planSave(key(-1, 9000, 30))?.drops).toEqual(["/d/2.kv"]);
    t.confirm("/d/4.kv", 300);
    // Restoring 3 (the least recently used now) while saving: 1 goes instead.
    expect(t.planSave(key(-1, 8000, 30), "/d/3.kv")?.drops).toEqual(["/d/1.kv"]);
    expect(t.stats().evictions).toBe(2);
    expect(t.stats().bytes).toBeLessThanOrEqual(1_000);
  });

  it("evicts unproven entries before proven ones until the proven fill more than their share", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 1_000, bytesPerToken: 10 });
    t.confirm(t.planSave(key(-1, 1000, 30), null, true)?.path as string, 300); // 1: proven (served reuse)
    t.confirm(t.planSave(key(-1, 2000, 30), null, false)?.path as string, 300); // 2: unproven
    t.confirm(t.planSave(key(-1, 3000, 30), null, false)?.path as string, 300); // 3: unproven
    // 1 is the least recently used, but unproven 2 goes first.
    expect(t.planSave(key(-1, 4000, 30), null, false)?.drops).toEqual(["/d/2.kv"]);
    t.confirm("/d/4.kv", 300);
    t.touch("/d/3.kv"); // restored: proven now; 600 proven bytes of 1,000 is within the 3/4 share
    expect(t.planSave(key(-1, 5000, 30), null, true)?.drops).toEqual(["/d/4.kv"]);
    t.confirm("/d/5.kv", 300);
    // 900 proven bytes are over the share: the least recently used proven entry (1) goes, though none is unproven.
    expect(t.planSave(key(-1, 6000, 30), null, false)?.drops).toEqual(["/d/1.kv"]);
    t.confirm("/d/6.kv", 300);
    // 600 proven again: unproven 6 goes before proven 3 and 5.
    expect(t.planSave(key(-1, 7000, 30), null, false)?.drops).toEqual(["/d/6.kv"]);
  });

  it("forgets a failed save, and plans nothing bigger than the whole budget", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 1_000, bytesPerToken: 10 });
    t.confirm(t.planSave(key(-1, 100, 20))?.path as string, undefined);
    expect(t.stats()).toEqual({ entries: 0, bytes: 0, evictions: 0, diskEntries: 0, diskBytes: 0 });
    expect(t.holds(key(-1, 100, 20))).toBe(false);
    expect(t.planSave(key(-1, 100, 200))).toBeNull();
  });

  it("with a disk tier, RAM evictions move there (its own least recently used dropped) and are restored from there", () => {
    const t = new HostTier({ dir: "/ram", maxBytes: 600, bytesPerToken: 10, disk: { dir: "/disk", maxBytes: 600 } });
    t.confirm(t.planSave(key(-1, 1000, 30))?.path as string, 300);
    t.confirm(t.planSave(key(-1, 2000, 30))?.path as string, 300);
    const third = t.planSave(key(-1, 3000, 30));
    expect(third).toEqual({ path: "/ram/3.kv", drops: [], moves: [{ from: "/ram/1.kv", to: "/disk/1.kv" }] });
    // Until the move is confirmed the entry is not restorable (only the scope is shared with others); then it is.
    expect(t.longest(key(-1, 1000, 30))?.length).toBe(1);
    t.confirm("/disk/1.kv", 300);
    t.confirm("/ram/3.kv", 300);
    expect(t.longest(key(-1, 1000, 30))).toEqual({ path: "/disk/1.kv", length: 31 });
    expect(t.stats()).toMatchObject({ entries: 2, bytes: 600, diskEntries: 1, diskBytes: 300 });
    // Two more: 2 and 3 go to disk, and the disk's least recently used (1) makes room.
    expect(t.planSave(key(-1, 4000, 30))?.moves).toEqual([{ from: "/ram/2.kv", to: "/disk/2.kv" }]);
    t.confirm("/disk/2.kv", 300);
    t.confirm("/ram/4.kv", 300);
    expect(t.planSave(key(-1, 5000, 30))).toEqual({ path: "/ram/5.kv", drops: ["/disk/1.kv"], moves: [{ from: "/ram/3.kv", to: "/disk/3.kv" }] });
    // A move that fails loses only that entry.
    t.confirm("/disk/3.kv", undefined);
    expect(t.longest(key(-1, 3000, 30))?.length).toBe(1);
    expect(t.stats().diskBytes).toBeLessThanOrEqual(600);
  });
});

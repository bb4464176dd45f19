// Unit tests for HostTier's bookkeeping: entries count only once confirmed, the longest confirmed prefix is found,
// bytes stay within the budget by evicting the least recently used (never the file a step restores), a failed save
// is forgotten, and a prefix too big for the budget is not planned.
import { describe, expect, it } from "vitest";
import { HostTier } from "../../../src/engine-worker/host-tier.js";

const key = (scope: number, from: number, n: number): number[] => [scope, ...Array.from({ length: n }, (_, i) => from + i)];

describe("HostTier", () => {
  it("an entry is found only after its save is confirmed, by the longest shared prefix", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 10_000, bytesPerToken: 10 });
    const planned = t.planSave(key(-1, 100, 50));
    expect(planned).toEqual({ path: "/d/1.kv", drops: [] });
    expect(t.longest(key(-1, 100, 60))).toBeNull();
    expect(t.holds(key(-1, 100, 50))).toBe(true); // being saved: not planned twice
    t.confirm("/d/1.kv", 480);
    expect(t.longest([...key(-1, 100, 30), 7])).toEqual({ path: "/d/1.kv", length: 31 });
    expect(t.longest(key(-2, 100, 30))).toBeNull(); // another scope
    expect(t.stats()).toEqual({ entries: 1, bytes: 480, evictions: 0 });
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

  it("forgets a failed save, and plans nothing bigger than the whole budget", () => {
    const t = new HostTier({ dir: "/d", maxBytes: 1_000, bytesPerToken: 10 });
    t.confirm(t.planSave(key(-1, 100, 20))?.path as string, undefined);
    expect(t.stats()).toEqual({ entries: 0, bytes: 0, evictions: 0 });
    expect(t.holds(key(-1, 100, 20))).toBe(false);
    expect(t.planSave(key(-1, 100, 200))).toBeNull();
  });
});

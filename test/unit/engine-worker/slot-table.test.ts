// Unit tests for SlotTable: slot ownership (acquire/release, busy/free); prefix reuse from a free slot (longest
// shared prefix, ties to the lowest index, a full-prompt match still leaves one token to evaluate, only the divergent
// tail erased); copies from another slot only when they save more than their cost; waiting for a prompt still being
// prefilled; scopes (cache salts) that never share; reuse off; busy slots kept in a row (free-slot and copy
// destination choice); and cachedCells for the KV gauge.
import { describe, expect, it } from "vitest";
import { HostTier } from "../../../src/engine-worker/host-tier.js";
import { DEFAULT_SCOPE, SlotTable, type PrefixQuery, type SlotAssignment } from "../../../src/engine-worker/slot-table.js";

const q = (prompt: number[], over: Partial<PrefixQuery> = {}): PrefixQuery => ({ scope: DEFAULT_SCOPE, prompt, reuse: true, copyCostTokens: 2, ...over });
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe("SlotTable: ownership", () => {
  it("starts all free", () => {
    const t = new SlotTable(3);
    expect({ size: t.size, busy: t.busy, free: t.free }).toEqual({ size: 3, busy: 0, free: 3 });
    expect([0, 1, 2].map((s) => t.ownerOf(s))).toEqual([null, null, null]);
  });

  it("acquire hands out distinct slots, lowest first, until none is free", () => {
    const t = new SlotTable(3);
    const got = ["a", "b", "c"].map((id, i) => t.acquire(id, q([i + 1, 2])));
    expect(got.map((g) => (g === null || g === "wait" ? g : g.slot))).toEqual([0, 1, 2]);
    expect([0, 1, 2].map((s) => t.ownerOf(s))).toEqual(["a", "b", "c"]);
    expect({ busy: t.busy, free: t.free }).toEqual({ busy: 3, free: 0 });
    expect(t.acquire("d", q([1, 2]))).toBeNull();
  });

  it("release frees the slot for the next acquire", () => {
    const t = new SlotTable(2);
    t.acquire("a", q([1]));
    t.acquire("b", q([2]));
    t.release(0);
    expect({ busy: t.busy, free: t.free, owner0: t.ownerOf(0), owner1: t.ownerOf(1) }).toEqual({ busy: 1, free: 1, owner0: null, owner1: "b" });
    expect(t.acquire("c", q([1]))).toMatchObject({ slot: 0 });
    expect(t.ownerOf(0)).toBe("c");
  });

  it("ownerOf an out-of-range slot is null; a zero-size table never hands out a slot", () => {
    expect(new SlotTable(1).ownerOf(5)).toBeNull();
    const t = new SlotTable(0);
    expect(t.free).toBe(0);
    expect(t.acquire("a", q([1]))).toBeNull();
  });
});

describe("SlotTable: reuse from a free slot", () => {
  it("a fresh table reuses nothing and erases nothing", () => {
    expect(new SlotTable(2).acquire("a", q([1, 2, 3]))).toEqual({ slot: 0, reusedTokens: 0, source: null, eraseTail: false, save: null });
  });

  it("picks the free slot sharing the longest prefix with the prompt", () => {
    const t = new SlotTable(3);
    t.setCached(0, DEFAULT_SCOPE, [1, 2, 9]);
    t.setCached(1, DEFAULT_SCOPE, [1, 2, 3, 4, 5]);
    t.setCached(2, DEFAULT_SCOPE, [7, 7]);
    expect(t.acquire("a", q([1, 2, 3, 4, 6, 6]))).toEqual({ slot: 1, reusedTokens: 4, source: null, eraseTail: true, save: null });
  });

  it("breaks ties by lowest index; with no shared prefix anywhere, takes the lowest free slot", () => {
    const t = new SlotTable(3);
    t.setCached(0, DEFAULT_SCOPE, [5]);
    t.setCached(1, DEFAULT_SCOPE, [1, 2, 8]);
    t.setCached(2, DEFAULT_SCOPE, [1, 2, 9]);
    expect(t.acquire("a", q([1, 2, 3]))).toMatchObject({ slot: 1, reusedTokens: 2 });
    expect(t.acquire("b", q([6, 7]))).toMatchObject({ slot: 0, reusedTokens: 0, eraseTail: true });
  });

  it("a prompt fully cached, or a strict prefix of the cache, still leaves its last token to evaluate", () => {
    const t = new SlotTable(2);
    t.setCached(0, DEFAULT_SCOPE, [1, 2, 3]);
    t.setCached(1, DEFAULT_SCOPE, [4, 5, 6, 7, 8, 9]);
    expect(t.acquire("a", q([1, 2, 3]))).toEqual({ slot: 0, reusedTokens: 2, source: null, eraseTail: true, save: null });
    expect(t.acquire("b", q([4, 5, 6]))).toEqual({ slot: 1, reusedTokens: 2, source: null, eraseTail: true, save: null });
  });

  it("a one-token prompt reuses nothing; an empty prompt never reports negative reuse", () => {
    const t = new SlotTable(2);
    t.setCached(0, DEFAULT_SCOPE, [1, 2]);
    t.setCached(1, DEFAULT_SCOPE, [1, 2]);
    expect(t.acquire("a", q([1]))).toMatchObject({ slot: 0, reusedTokens: 0 });
    expect(t.acquire("b", q([]))).toMatchObject({ slot: 1, reusedTokens: 0 });
  });

  it("keeps the cache across release so a follow-up turn reuses it", () => {
    const t = new SlotTable(2);
    expect(t.acquire("turn1", q([1, 2, 3]))).toMatchObject({ slot: 0 });
    t.setCached(0, DEFAULT_SCOPE, [1, 2, 3, 40, 41]);
    t.release(0);
    expect(t.acquire("turn2", q([1, 2, 3, 40, 41, 50, 51]))).toMatchObject({ slot: 0, reusedTokens: 5, source: null });
  });
});

describe("SlotTable: copy from another slot", () => {
  it("copies a busy slot's longer prefix when it saves more than the copy costs", () => {
    const t = new SlotTable(3);
    t.acquire("owner", q(range(100, 40)));
    t.setCached(0, DEFAULT_SCOPE, range(100, 40));
    expect(t.acquire("a", q([...range(100, 30), 7, 7], { copyCostTokens: 10 }))).toEqual({
      slot: 1,
      reusedTokens: 30,
      source: { kind: "slot", slot: 0 },
      eraseTail: true,
      save: null,
    });
  });

  it("recomputes when the saving is at most the copy's cost", () => {
    const t = new SlotTable(2);
    t.acquire("owner", q(range(100, 40)));
    t.setCached(0, DEFAULT_SCOPE, range(100, 40));
    expect(t.acquire("a", q([...range(100, 10), 7], { copyCostTokens: 10 }))).toEqual({ slot: 1, reusedTokens: 0, source: null, eraseTail: false, save: null });
  });

  it("weighs the copy against the free slot's own prefix, and copies into the least recently used free slot", () => {
    const t = new SlotTable(4);
    t.acquire("x", q([1])); // slot 0
    t.acquire("owner", q(range(100, 50))); // slot 1
    t.acquire("y", q([2])); // slot 2
    t.setCached(1, DEFAULT_SCOPE, range(100, 50));
    t.release(0);
    t.setCached(3, DEFAULT_SCOPE, [5, 5]);
    t.acquire("z", q([5, 5, 6])); // slot 3, now used after slot 0
    t.release(3);
    t.setCached(3, DEFAULT_SCOPE, range(100, 5));
    // Slot 3 holds 5 of the prompt's tokens, the busy slot 1 holds 45: 40 saved > cost 8; slot 0 is the LRU.
    expect(t.acquire("a", q([...range(100, 45), 1], { copyCostTokens: 8 }))).toEqual({
      slot: 0,
      reusedTokens: 45,
      source: { kind: "slot", slot: 1 },
      eraseTail: true,
      save: null,
    });
  });

  it("records what a copy's destination holds, so a later prompt reuses it there", () => {
    const t = new SlotTable(3);
    t.acquire("a", q(range(100, 30)));
    t.setCached(0, DEFAULT_SCOPE, range(100, 30));
    expect(t.acquire("b", q(range(100, 30)))).toMatchObject({ slot: 1, reusedTokens: 29, source: { kind: "slot", slot: 0 } });
    t.release(1);
    t.setCached(0, DEFAULT_SCOPE, []);
    expect(t.acquire("c", q([...range(100, 29), 5]))).toMatchObject({ slot: 1, reusedTokens: 29, source: null });
  });
});

describe("SlotTable: waiting for a prompt being prefilled", () => {
  it("a prompt sharing a long prefix with one still prefilling waits; once prefilled, it copies", () => {
    const t = new SlotTable(3);
    const prompt = range(100, 64);
    expect(t.acquire("first", q(prompt))).toMatchObject({ slot: 0, reusedTokens: 0 });
    expect(t.acquire("sibling", q(prompt))).toBe("wait");
    t.setCached(0, DEFAULT_SCOPE, prompt.slice(0, 32));
    expect(t.acquire("sibling", q(prompt))).toBe("wait"); // half done: 31 more to save by waiting
    t.setCached(0, DEFAULT_SCOPE, prompt);
    t.prefilled(0);
    expect(t.acquire("sibling", q(prompt))).toEqual({ slot: 1, reusedTokens: 63, source: { kind: "slot", slot: 0 }, eraseTail: true, save: null });
  });

  it("does not wait for a short shared part, and stops waiting when the other request is released", () => {
    const t = new SlotTable(4);
    t.acquire("first", q([1, 2, 3, 4, 5]));
    expect(t.acquire("short", q([1, 2, 9]))).toMatchObject({ slot: 1 });
    t.acquire("long", q(range(100, 40)));
    expect(t.acquire("follower", q(range(100, 40)))).toBe("wait");
    t.release(2);
    expect(t.acquire("follower", q(range(100, 40)))).not.toBe("wait");
  });
});

describe("SlotTable: scopes and reuse off", () => {
  it("a prefix cached under one scope is never reused, copied or waited for under another", () => {
    const t = new SlotTable(3);
    const prompt = range(100, 40);
    t.acquire("a", q(prompt, { scope: -7 }));
    t.setCached(0, -7, prompt);
    t.prefilled(0);
    t.release(0);
    expect(t.acquire("other-salt", q(prompt, { scope: -8 }))).toEqual({ slot: 1, reusedTokens: 0, source: null, eraseTail: false, save: null });
    expect(t.acquire("same-salt", q(prompt, { scope: -7 }))).toMatchObject({ slot: 0, reusedTokens: 39 });
    expect(t.acquire("third-salt", q(prompt, { scope: -9 }))).toMatchObject({ slot: 2, reusedTokens: 0, source: null });
  });

  it("reuse off takes the least recently used free slot and erases everything it held", () => {
    const t = new SlotTable(2);
    t.acquire("a", q([1]));
    t.setCached(0, DEFAULT_SCOPE, [1, 2, 3]);
    t.release(0);
    expect(t.acquire("b", q([1, 2, 3, 4], { reuse: false }))).toEqual({ slot: 1, reusedTokens: 0, source: null, eraseTail: false, save: null });
    t.release(1);
    expect(t.acquire("c", q([1, 2, 3, 4], { reuse: false }))).toEqual({ slot: 0, reusedTokens: 0, source: null, eraseTail: true, save: null });
  });
});

describe("SlotTable: busy slots kept in a row (one forward pass per run of consecutive slots)", () => {
  /** Slots 0..size-1 acquired in order, then the listed ones released in order. */
  const withBusy = (size: number, release: number[]): SlotTable => {
    const t = new SlotTable(size);
    for (let s = 0; s < size; s++) t.acquire(`r${s}`, q([1000 + s]));
    for (const s of release) t.release(s);
    return t;
  };
  const slotOf = (a: ReturnType<SlotTable["acquire"]>): number | null => (a === null || a === "wait" ? null : a.slot);

  it("a prompt with no prefix anywhere takes the free slot beside busy ones, not the least recently used", () => {
    // Busy: 0, 1. Free: 5 (least recently used), 4, 3, 2 (released last).
    const t = withBusy(6, [5, 4, 3, 2]);
    expect(slotOf(t.acquire("a", q([7, 7])))).toBe(2);
  });

  it("a slot joining two runs beats one beside a single run", () => {
    // Busy: 0, 2, 3. Free: 1 (joins 0 with 2-3), 4 (beside 3), 5; 4 and 5 freed first.
    const t = withBusy(6, [4, 5, 1]);
    expect(slotOf(t.acquire("a", q([7, 7])))).toBe(1);
  });

  it("with nothing busy, the least recently used free slot still goes first", () => {
    const t = withBusy(4, [2, 0, 3, 1]);
    expect(slotOf(t.acquire("a", q([7, 7])))).toBe(2);
  });

  it("a free slot's prefix longer by more than a copy's cost wins over keeping slots in a row", () => {
    const t = withBusy(6, [5, 4, 3, 2]);
    t.setCached(5, DEFAULT_SCOPE, range(100, 20));
    expect(t.acquire("a", q([...range(100, 20), 1], { copyCostTokens: 8 }))).toMatchObject({ slot: 5, reusedTokens: 20, source: null });
    // Shorter by at most the copy's cost: the slot beside the busy ones, recomputing those few tokens.
    t.release(5);
    t.setCached(5, DEFAULT_SCOPE, range(200, 6));
    expect(t.acquire("b", q([...range(200, 6), 1], { copyCostTokens: 8 }))).toMatchObject({ slot: 2, reusedTokens: 0, source: null });
  });

  it("a copy lands beside busy slots", () => {
    // Busy: 0, 1 (holding a long prefix). Free: 5 (least recently used) .. 2.
    const t = withBusy(6, [5, 4, 3, 2]);
    t.setCached(1, DEFAULT_SCOPE, range(100, 40));
    expect(t.acquire("a", q([...range(100, 40), 1], { copyCostTokens: 8 }))).toMatchObject({ slot: 2, reusedTokens: 40, source: { kind: "slot", slot: 1 } });
  });

  it("under churn (8 requests at a time in 16 slots, random ends), busy slots stay in about one run", () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const t = new SlotTable(16);
    const live: number[] = [];
    let next = 0;
    let runs = 0;
    const steps = 2000;
    for (let step = 0; step < steps; step++) {
      while (live.length < 8) {
        const got = slotOf(t.acquire(`q${next}`, q([5000 + next++])));
        if (got === null) throw new Error("no free slot");
        live.push(got);
      }
      const sorted = [...live].sort((a, b) => a - b);
      runs += sorted.filter((s, i) => i === 0 || s !== (sorted[i - 1] as number) + 1).length;
      // Each request ends with probability 1/8 per step: lengths vary as in real traffic.
      for (let i = live.length - 1; i >= 0; i--) if (rand() < 1 / 8) t.release(live.splice(i, 1)[0] as number);
    }
    // Least-recently-used choice alone scatters them: 4.46 runs per step here (8 random slots of 16 average 4.3); this 1.69.
    expect(runs / steps).toBeLessThan(2);
  });
});

describe("SlotTable: cachedCells", () => {
  it("sums the recorded tokens of every slot, busy or free", () => {
    const t = new SlotTable(3);
    expect(t.cachedCells()).toBe(0);
    t.setCached(0, DEFAULT_SCOPE, [1, 2, 3]);
    t.setCached(2, DEFAULT_SCOPE, [4, 5]);
    expect(t.cachedCells()).toBe(5);
    t.setCached(0, DEFAULT_SCOPE, []);
    expect(t.cachedCells()).toBe(2);
  });
});

describe("SlotTable: the host tier", () => {
  const hosted = (slots: number): SlotTable => new SlotTable(slots, new HostTier({ dir: "/d", maxBytes: 100_000, bytesPerToken: 10 }));

  it("saves a free slot's long content that has served reuse before a new occupant overwrites it, and restores it later", () => {
    const t = hosted(1);
    const alice = range(100, 80);
    t.setCached(0, DEFAULT_SCOPE, alice.slice(0, 70)); // an earlier turn: this occupant reuses 70 tokens
    expect(t.acquire("a", q(alice))).toMatchObject({ reusedTokens: 70 });
    t.setCached(0, DEFAULT_SCOPE, alice);
    t.release(0);
    const bob = t.acquire("b", q(range(500, 80)));
    expect(bob).toEqual({ slot: 0, reusedTokens: 0, source: null, eraseTail: true, save: { path: "/d/1.kv", tokens: alice, drops: [], moves: [] } });
    t.host?.confirm("/d/1.kv", 800);
    t.setCached(0, DEFAULT_SCOPE, range(500, 80));
    t.release(0);
    expect(t.acquire("a2", q([...alice, 1, 2]))).toMatchObject({ slot: 0, reusedTokens: 80, source: { kind: "host", path: "/d/1.kv" }, eraseTail: true });
  });

  it("does not save content that never served reuse (a unique prompt)", () => {
    const t = hosted(1);
    t.acquire("unique", q(range(100, 80)));
    t.setCached(0, DEFAULT_SCOPE, range(100, 80));
    t.release(0);
    expect(t.acquire("next", q(range(500, 80)))).toMatchObject({ save: null });
  });

  it("saves content that never served reuse when its save costs at most a tenth of recomputing it", () => {
    const unproven = (saveCostTokens: (tokens: number) => number): SlotAssignment["save"] => {
      const t = hosted(1);
      t.acquire("unique", q(range(100, 80)));
      t.setCached(0, DEFAULT_SCOPE, range(100, 80));
      t.release(0);
      const got = t.acquire("next", q(range(500, 80), { saveCostTokens }));
      return got === null || got === "wait" ? null : got.save;
    };
    // 80 tokens lost: a save worth at most 8 prefill tokens is made.
    expect(unproven(() => 8)).toMatchObject({ path: "/d/1.kv", tokens: range(100, 80) });
    expect(unproven(() => 9)).toBeNull();
    expect(unproven((n) => n * 0.01)).not.toBeNull();
  });

  it("does not save short content, content another slot still holds, or content it already has", () => {
    const t = hosted(2);
    t.acquire("short", q(range(100, 10)));
    t.setCached(0, DEFAULT_SCOPE, range(100, 10));
    t.release(0);
    expect(t.acquire("x", q(range(900, 80)))).toMatchObject({ save: null });
    const shared = range(200, 80);
    t.setCached(0, DEFAULT_SCOPE, shared);
    t.setCached(1, DEFAULT_SCOPE, shared);
    t.release(0);
    // Slot 1 still holds the same tokens: overwriting slot 0 loses nothing.
    expect(t.acquire("y", q(range(700, 80), { reuse: false }))).toMatchObject({ save: null });
  });
});

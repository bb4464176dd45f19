// Unit tests for SlotTable: slot ownership (acquire/release, busy/free); prefix reuse from a free slot (longest
// shared prefix, ties to the lowest index, a full-prompt match still leaves one token to evaluate, only the divergent
// tail erased); copies from another slot only when they save more than their cost, into the least recently used
// free slot; waiting for a prompt still being prefilled; scopes (cache salts) that never share; reuse off; and
// cachedCells for the KV gauge.
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

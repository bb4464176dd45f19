// Unit tests for PrefixRouter: least loaded without a key or a long enough match; the worker holding the longest
// prefix otherwise, unless it is busier than the balance bound allows; only eligible workers; bounded memory per
// worker; a restarted worker's prefixes forgotten.
import { describe, expect, it } from "vitest";
import { MIN_ROUTE_MATCH, PrefixRouter } from "../../../src/engine/prefix-router.js";

const key = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const all = [true, true, true];

describe("PrefixRouter", () => {
  it("routes by load when there is no key or no long enough shared prefix", () => {
    const r = new PrefixRouter(3, 4);
    expect(r.pick(null, [2, 0, 1], all)).toEqual({ worker: 1, matched: 0 });
    r.record(0, key(100, 10));
    expect(r.pick(key(100, 10), [1, 0, 0], all)).toEqual({ worker: 1, matched: 0 }); // 10 < MIN_ROUTE_MATCH
  });

  it("follows the worker holding the longest prefix, within the balance bound", () => {
    const r = new PrefixRouter(3, 4);
    r.record(2, key(100, 200));
    r.record(1, key(100, 60));
    expect(r.pick([...key(100, 150), 7], [4, 4, 5], all)).toEqual({ worker: 2, matched: 150 });
    // Worker 2 at 3 against a least load of 2: over 1.25 × 2, so the next best within the bound.
    expect(r.pick([...key(100, 150), 7], [2, 2, 3], all)).toEqual({ worker: 1, matched: 60 });
    // An idle worker: the prefix holder may take one request, not two.
    expect(r.pick([...key(100, 150), 7], [0, 2, 1], all)).toEqual({ worker: 2, matched: 150 });
    expect(r.pick([...key(100, 150), 7], [0, 2, 2], all)).toEqual({ worker: 0, matched: 0 });
  });

  it("between workers holding the same prefix, the less loaded", () => {
    const r = new PrefixRouter(2, 4);
    r.record(0, key(100, 80));
    r.record(1, key(100, 80));
    expect(r.pick(key(100, 80), [5, 4], [true, true])).toEqual({ worker: 1, matched: 80 });
  });

  it("never picks an ineligible worker, and null when none is eligible", () => {
    const r = new PrefixRouter(2, 4);
    r.record(0, key(1, 100));
    expect(r.pick(key(1, 100), [0, 0], [false, true])).toEqual({ worker: 1, matched: 0 });
    expect(r.pick(key(1, 100), [0, 0], [false, false])).toBeNull();
  });

  it("remembers a bounded number of prompts per worker, and forgets a restarted worker's", () => {
    const r = new PrefixRouter(2, 1); // 4 keys per worker
    for (let i = 0; i < 5; i++) r.record(0, key(1000 * (i + 1), MIN_ROUTE_MATCH + 1));
    expect(r.pick(key(1000, MIN_ROUTE_MATCH + 1), [0, 0], [true, true])?.matched).toBe(0); // the oldest is gone
    expect(r.pick(key(5000, MIN_ROUTE_MATCH + 1), [0, 0], [true, true])).toEqual({ worker: 0, matched: MIN_ROUTE_MATCH + 1 });
    r.forgetWorker(0);
    expect(r.pick(key(5000, MIN_ROUTE_MATCH + 1), [0, 0], [true, true])?.matched).toBe(0);
  });
});

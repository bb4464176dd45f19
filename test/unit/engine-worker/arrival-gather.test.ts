// The gather after idle (arrival-gather.ts): waits while arrivals keep coming, bounded by a share of the prefill it
// delays (and by fixed caps), and never for a single sub-millisecond allowance.
import { describe, expect, it } from "vitest";
import {
  ARRIVAL_GATHER_COLD_MS,
  ARRIVAL_GATHER_MAX_MS,
  ARRIVAL_GATHER_SHARE,
  ARRIVAL_QUIET_MS,
  nextGatherWaitMs,
} from "../../../src/engine-worker/arrival-gather.js";

describe("nextGatherWaitMs", () => {
  it("waits one quiet interval while arrivals come, and starts at once when none came in the last one", () => {
    expect(nextGatherWaitMs({ waitedMs: 0, arrived: true, queuedPrefillMs: 400 })).toBe(ARRIVAL_QUIET_MS);
    expect(nextGatherWaitMs({ waitedMs: 3, arrived: false, queuedPrefillMs: 400 })).toBe(0);
  });

  it("stops at its share of the queued prefill, whatever still arrives", () => {
    const bound = ARRIVAL_GATHER_SHARE * 100;
    expect(nextGatherWaitMs({ waitedMs: bound - 2, arrived: true, queuedPrefillMs: 100 })).toBeCloseTo(2);
    expect(nextGatherWaitMs({ waitedMs: bound, arrived: true, queuedPrefillMs: 100 })).toBe(0);
  });

  it("caps long prefills and unmeasured ones; a short prefill (a fast GPU) is not worth a wait", () => {
    expect(nextGatherWaitMs({ waitedMs: ARRIVAL_GATHER_MAX_MS, arrived: true, queuedPrefillMs: 1e6 })).toBe(0);
    expect(nextGatherWaitMs({ waitedMs: ARRIVAL_GATHER_MAX_MS - 1, arrived: true, queuedPrefillMs: 1e6 })).toBeGreaterThan(0);
    expect(nextGatherWaitMs({ waitedMs: ARRIVAL_GATHER_COLD_MS, arrived: true, queuedPrefillMs: null })).toBe(0);
    expect(nextGatherWaitMs({ waitedMs: 0, arrived: true, queuedPrefillMs: 5 })).toBe(0);
  });
});

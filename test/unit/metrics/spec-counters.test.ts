// The exporter turns each worker's cumulative speculation counts into counter increments: per model and proposer,
// across workers, and a restarted worker (counting from zero again) is a reset, never a negative increment (which
// prom-client refuses by throwing, inside the worker message handler).
import { describe, expect, it } from "vitest";
import { PrometheusExporter } from "../../../src/metrics/prometheus-exporter.js";
import type { EngineStats, SpeculationStats } from "../../../src/engine-worker/worker-messages.js";

function stats(steps: number, speculation: SpeculationStats): EngineStats {
  return {
    steps,
    slots: 4,
    slotsBusy: 1,
    running: 1,
    waiting: 0,
    kvCellsUsed: 10,
    kvCellsTotal: 100,
    lastStepMs: 5,
    lastBatchTokens: 3,
    lastDecodeTokens: 3,
    lastPrefillTokens: 0,
    lastKvCopies: 0,
    lastKvRestores: 0,
    hostTier: { entries: 0, bytes: 0, evictions: 0, diskEntries: 0, diskBytes: 0 },
    prefillChunk: 16,
    speculation,
  };
}

async function value(e: PrometheusExporter, name: string): Promise<number> {
  const line = (await e.scrape()).split("\n").find((l) => l.startsWith(`${name}{model="m",proposer="ngram"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("speculation counters", () => {
  it("sums deltas across workers and treats a restarted worker's lower counts as a reset", async () => {
    const e = new PrometheusExporter(() => ({ models: [], activeStreams: new Map(), eventLoopLagP99Ms: 0 }), true);
    e.step("m", 0, stats(1, { ngram: { drafts: 2, draftTokens: 10, acceptedTokens: 8 } }));
    e.step("m", 1, stats(1, { ngram: { drafts: 1, draftTokens: 4, acceptedTokens: 1 } }));
    e.step("m", 0, stats(2, { ngram: { drafts: 3, draftTokens: 14, acceptedTokens: 9 } }));
    expect(await value(e, "loom_spec_decode_draft_tokens_total")).toBe(18);
    // Worker 0 restarted: its counts start again.
    expect(() => e.step("m", 0, stats(1, { ngram: { drafts: 4, draftTokens: 6, acceptedTokens: 6 } }))).not.toThrow();
    expect(await value(e, "loom_spec_decode_draft_tokens_total")).toBe(24);
    expect(await value(e, "loom_spec_decode_accepted_tokens_total")).toBe(16);
    expect(await value(e, "loom_spec_decode_drafts_total")).toBe(8);
    expect(await value(e, "loom_spec_decode_acceptance_ratio")).toBeCloseTo(16 / 24);
    expect(await value(e, "loom_spec_decode_mean_accepted_length")).toBeCloseTo(1 + 16 / 8);
  });
});

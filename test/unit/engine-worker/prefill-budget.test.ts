// Unit tests for the latency-target prefill budget: the whole batch when nothing decodes, the batch minus decodes
// with no target, a decode-only probe when alone(d) is unknown, a budget that meets the target on a simulated
// machine at every decode count, no cold-start lock at a small chunk, gradual growth, sane chunks on a noisy,
// bursty machine (step times jumping 1–4×), and a prompt-token cost that short prompts do not inflate.
import { describe, expect, it } from "vitest";
import { MIN_CHUNK, PrefillBudget } from "../../../src/engine-worker/prefill-budget.js";

/** A simulated machine: decode-only step 8 + 3·d ms, each prefill token 1.5 ms, ±5% deterministic jitter. */
function machine(d: number, p: number, i: number): number {
  return (8 + 3 * d + 1.5 * p) * (1 + 0.05 * Math.sin(i * 12.9898));
}

/** Run `steps` planned steps at d decodes through the budget, feeding the simulated machine's times back. */
function drive(b: PrefillBudget, d: number, steps: number, start = 0, time = machine): number[] {
  const chunks: number[] = [];
  for (let i = start; i < start + steps; i++) {
    const n = b.budget(d);
    chunks.push(n);
    b.observe(d, n, time(d, n, i));
  }
  return chunks;
}

describe("PrefillBudget", () => {
  it("gives the whole batch when nothing is decoding", () => {
    expect(new PrefillBudget({ batchSize: 2048, itlTargetMs: 250 }).budget(0)).toBe(2048);
  });

  it("with no target gives what the batch leaves after decodes", () => {
    expect(new PrefillBudget({ batchSize: 64, itlTargetMs: 0 }).budget(60)).toBe(4);
    expect(new PrefillBudget({ batchSize: 64, itlTargetMs: 0 }).budget(64)).toBe(0);
  });

  it("probes with one decode-only step when nothing near d has been measured, then at most every 16 steps", () => {
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 100 });
    expect(b.budget(4)).toBe(0);
    expect(b.budget(4)).toBe(MIN_CHUNK); // rate-limited: no second probe in a row, and no cost known yet
    b.observe(4, 0, 20);
    expect(b.aloneMs(4)).toBe(20);
    expect(b.budget(5)).toBeGreaterThan(0); // 5 is within a quarter of 4: no probe
  });

  it("meets the target at every decode count", () => {
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 120 });
    let i = 0;
    for (let round = 0; round < 40; round++) for (const d of [2, 4, 8, 16]) drive(b, d, 3, (i += 3));
    for (const d of [2, 4, 8, 16]) {
      const ms = machine(d, b.budget(d), 0);
      expect(ms, `d=${d}`).toBeGreaterThan(105);
      expect(ms, `d=${d}`).toBeLessThan(130);
    }
  });

  it("never exceeds the batch, and gives MIN_CHUNK when decodes alone take longer than the target", () => {
    const b = new PrefillBudget({ batchSize: 80, itlTargetMs: 1_000 });
    drive(b, 16, 60);
    expect(b.budget(16)).toBe(64);
    const slow = new PrefillBudget({ batchSize: 512, itlTargetMs: 30 });
    drive(slow, 16, 60); // alone(16) = 56 ms > 30
    expect(slow.budget(16)).toBe(MIN_CHUNK);
  });

  it("interpolates and extrapolates decode-only time between measured decode counts", () => {
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 100 });
    expect(b.aloneMs(3)).toBeNull();
    b.observe(2, 0, 14);
    b.observe(6, 0, 26);
    expect(b.aloneMs(4)).toBeCloseTo(20);
    expect(b.aloneMs(10)).toBeCloseTo(38);
    expect(b.aloneMs(1)).toBeCloseTo(11);
  });

  it("does not stay at a small chunk when every step is mixed", () => {
    // The first prompt is prefilled alone (nothing decoding), then prompts prefill while one stream decodes.
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 100 });
    b.observe(0, 128, 8 + 1.5 * 128);
    const chunks = drive(b, 1, 12);
    expect(chunks[0]).toBe(0); // the probe
    expect(Math.max(...chunks.slice(4))).toBeGreaterThan(40);
  });

  it("grows at most twice the largest measured chunk per step", () => {
    // Whole-prompt steps look cheap (0.2 ms/token); mixed tokens really cost 1.5 ms: growth must be gradual.
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 80 });
    b.observe(0, 500, 100);
    b.observe(4, 0, 20);
    const chunks = drive(b, 4, 10);
    for (let k = 0; k < chunks.length; k++) expect(chunks[k]).toBeLessThanOrEqual(Math.max(MIN_CHUNK, 2 * Math.max(0, ...chunks.slice(0, k))));
    for (const n of [...chunks, b.budget(4)]) expect(machine(4, n, 0)).toBeLessThan(100);
  });

  it("stays near the target on a noisy machine: step times jump 1–4× in bursts", () => {
    // A background process takes the CPU for bursts of a few steps: those steps take 2–4× as long.
    const noisy = (d: number, p: number, i: number): number => {
      const burst = Math.floor(i / 5) % 4 === 0 ? 2 + (i % 3) : 1;
      return machine(d, p, i) * burst;
    };
    const b = new PrefillBudget({ batchSize: 2048, itlTargetMs: 200 });
    const chunks = drive(b, 8, 400, 0, noisy).slice(50);
    // Calm steps would allow (200 − 32) / 1.5 = 112 tokens. The estimate may move with the bursts but neither
    // collapses to the minimum (starving prompts) nor balloons past twice the calm chunk (stalling streams).
    const sorted = [...chunks].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    expect(median).toBeGreaterThan(40);
    expect(Math.max(...chunks)).toBeLessThan(224);
    expect(chunks.filter((n) => n <= MIN_CHUNK).length / chunks.length).toBeLessThan(0.25);
  });
});

describe("PrefillBudget.prefillTokenMs", () => {
  it("weighs whole-prompt steps by their tokens: a short prompt's per-step cost does not make prompt tokens look dear", () => {
    const b = new PrefillBudget({ batchSize: 512, itlTargetMs: 100 });
    b.observe(1, 0, 4); // a one-token step: 4 ms
    b.observe(0, 3, 12); // a 3-token prompt: mostly the per-step cost (2.7 ms per token by its own step)
    for (let i = 0; i < 4; i++) b.observe(0, 310, 4 + 0.2 * 310); // real prompts: 0.2 ms per token beyond the step
    expect(b.prefillTokenMs()).toBeGreaterThan(0.19);
    expect(b.prefillTokenMs()).toBeLessThan(0.23);
  });
});

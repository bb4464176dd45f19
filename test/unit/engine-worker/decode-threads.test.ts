// The decode thread choice (decode-threads.ts): --threads-batch unless its steps at a token count show barrier
// stalls (a heavy tail), then whichever count measures the lower mean, with the loser measured again now and then.
import { describe, expect, it } from "vitest";
import { DecodeThreads } from "../../../src/engine-worker/decode-threads.js";

/** Runs `steps` decisions at `tokens`, feeding back the time `cost` gives for the chosen thread count. */
function drive(dt: DecodeThreads, tokens: number, steps: number, cost: (threads: number, i: number) => number): number[] {
  const picks: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = dt.pick(tokens);
    picks.push(t);
    dt.observe(tokens, t, cost(t, i));
  }
  return picks;
}

describe("DecodeThreads", () => {
  it("keeps --threads-batch when its steps are steady, even if one thread would be close", () => {
    const dt = new DecodeThreads(1, 2);
    const picks = drive(dt, 4, 500, (t, i) => (t === 2 ? 10 + (i % 5) * 0.3 : 17));
    expect(picks.every((t) => t === 2)).toBe(true);
  });

  it("tries --threads where the batch threads stall, and keeps it while its mean is lower", () => {
    const dt = new DecodeThreads(1, 2);
    // Two threads: 3.4 ms, but 25 ms in every fourth step (mean 8.9, over 1.5x the median); one thread: 5 ms.
    const picks = drive(dt, 8, 400, (t, i) => (t === 2 ? (i % 4 === 0 ? 25 : 3.4) : 5));
    const late = picks.slice(100);
    expect(late.filter((t) => t === 1).length).toBeGreaterThan(late.length * 0.95);
    // The loser is still measured now and then, so a change of load can swing it back.
    expect(late.filter((t) => t === 2).length).toBeGreaterThan(0);
  });

  it("goes back to the batch threads when one thread turns out slower", () => {
    const dt = new DecodeThreads(1, 2);
    const picks = drive(dt, 8, 600, (t, i) => (t === 2 ? (i % 4 === 0 ? 25 : 3.4) : 40));
    expect(picks.slice(200).filter((t) => t === 2).length).toBeGreaterThan(390);
  });

  it("leaves single tokens, long verify steps and equal settings alone", () => {
    const dt = new DecodeThreads(1, 2);
    expect(dt.pick(1)).toBe(2);
    expect(dt.pick(65)).toBe(2);
    const same = new DecodeThreads(2, 2);
    expect(drive(same, 8, 50, () => 30).every((t) => t === 2)).toBe(true);
  });
});

// What copying one slot's KV into another costs on this machine. llama.cpp keeps each slot's KV in its own stream
// (node-llama-cpp creates contexts with kv_unified off) and a cross-stream seq_cp copies the destination's whole
// stream buffer, deferred into the next decode: a fixed cost that scales with the per-slot context, not with the
// prefix (../shared/facts/stack.md §3). Measured once at start-up, it is what the scheduler weighs a prefix copy
// against (a prompt token's measured prefill cost).

import type { StepPlan, StepResult } from "./step-plan.js";

type Step = (plan: StepPlan) => Promise<StepResult>;

const ROUNDS = 3;

/** ms a copy adds to a decode: a one-token decode with a pending copy minus one without (best of ROUNDS each). */
export async function measureKvCopyMs(step: Step, slots: number, token: number): Promise<number> {
  if (slots < 2) return 0;
  const decode = (slot: number, kvOps: StepPlan["kvOps"]): Promise<StepResult> =>
    step({
      step: 0,
      kvOps,
      entries: [{ seqId: "kv-copy-probe", slot, start: 0, tokens: [token], sampleAt: [], outputIndex: 0 }],
      decodeTokens: 1,
      prefillTokens: 0,
    });
  const clear = (slot: number): StepPlan["kvOps"][number] => ({ kind: "erase", slot, from: 0, to: null });
  // The source must hold something: a copy from an empty slot only clears the destination.
  await decode(0, []);
  let plain = Number.POSITIVE_INFINITY;
  let copied = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    plain = Math.min(plain, await timed(() => decode(1, [clear(1)])));
    copied = Math.min(copied, await timed(() => decode(1, [{ kind: "copy", fromSlot: 0, toSlot: 1 }, clear(1)])));
  }
  await step({ step: 0, kvOps: [clear(0), clear(1)], entries: [], decodeTokens: 0, prefillTokens: 0 });
  return Math.max(0, copied - plain);
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

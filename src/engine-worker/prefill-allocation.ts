// How one step's prefill budget is shared among the prompts still prefilling, in the scheduler's order.

import type { Sequence } from "./sequence.js";

/** Tokens per prefilling sequence, in order, until the budget runs out. */
export function allocate(prefilling: readonly Sequence[], budget: number): number[] {
  let left = budget;
  return prefilling.map((seq) => {
    const n = Math.max(0, Math.min(seq.remainingPrompt, left));
    left -= n;
    return n;
  });
}

// What the prefix cache's KV operations cost, in prompt tokens of prefill: the slot table weighs a copy, a restore
// or a save against the prefill it saves. The operations' ms are measured at load (runtime/kv-costs.ts); a prompt
// token's cost is measured as steps run (prefill-budget.ts).

import type { PrefixQuery } from "./slot-table.js";

/** A KV copy or restore is planned only when it saves more than this many prompt tokens, whatever the costs say. */
export const MIN_COPY_GAIN = 8;

export interface KvOpCostsMs {
  /** What copying one slot's KV into another costs (ms). */
  readonly copyMs?: number | undefined;
  /** What restoring one token's KV from the host tier costs (ms). */
  readonly restoreMsPerToken?: number | undefined;
  /** What saving one token's KV to the host tier costs (ms). */
  readonly saveMsPerToken?: number | undefined;
}

/** The costs in prefill tokens, given a prompt token's measured cost (null: not measured yet). */
export function kvCostTokens(prefillTokenMs: number | null, costs: KvOpCostsMs): Pick<PrefixQuery, "copyCostTokens" | "restoreCostTokens" | "saveCostTokens"> {
  const perToken = prefillTokenMs !== null && prefillTokenMs > 0 ? prefillTokenMs : null;
  const inTokens = (ms: number): number => (perToken === null ? MIN_COPY_GAIN : Math.max(MIN_COPY_GAIN, Math.ceil(ms / perToken)));
  return {
    // llama.cpp copies a slot's whole KV stream: a fixed cost, whatever the prefix.
    copyCostTokens: inTokens(costs.copyMs ?? 0),
    restoreCostTokens: (tokens) => inTokens((costs.restoreMsPerToken ?? 0) * tokens),
    // A save stalls the step it runs in; an unknown cost reads as prohibitive.
    saveCostTokens: (tokens) =>
      perToken === null || costs.saveMsPerToken === undefined ? Number.POSITIVE_INFINITY : (costs.saveMsPerToken * tokens) / perToken,
  };
}

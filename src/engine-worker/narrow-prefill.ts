// A prompt whose cached prefix leaves only a few tokens to compute can be cheaper to finish by recomputing some of
// the prefix too. On CPU, llama.cpp's flash attention takes a sequence's rows of one forward pass in tiles of 64 when
// there are at least 64 of them, and one row at a time otherwise, and the one-row path costs far more per KV cell of
// context: 50 rows after 1,000 cached tokens took 221 ms, 64 rows 144 ms (bench model, bench/narrow-prefill.ts).
// The backend states the one-row path's extra cost per row and cell (0 where it does not apply: GPU, flash attention
// off); the slot table asks here how many cached tokens a hit gives back, as it weighs where to reuse from.

import { FA_TILE_ROWS } from "../runtime/narrow-prefill-cost.js";

/**
 * Cached tokens to recompute so that the rest of a prompt runs as exactly FA_TILE_ROWS rows (one more would start a
 * second, nearly empty tile: 7 prompts of 65 rows took 1.26-1.40 s, of 64 rows 0.95 s), or 0 when that costs more than it saves.
 * @param rest prompt tokens left to compute after the reused prefix
 * @param context the reused prefix's length: the KV cells each of those rows attends to
 * @param penaltyPerCell the one-row path's extra cost per row per context cell, in prefill tokens
 */
export function narrowPrefillBackoff(rest: number, context: number, penaltyPerCell: number): number {
  if (penaltyPerCell <= 0 || rest >= FA_TILE_ROWS) return 0;
  const back = FA_TILE_ROWS - rest;
  if (back > context) return 0;
  // Rows run one by one cost rest × context × penalty more; giving back `back` tokens costs about `back` prefill
  // tokens (their own attention runs tiled).
  return rest * context * penaltyPerCell > back ? back : 0;
}

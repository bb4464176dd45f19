// Slot relocation: llama.cpp runs the decodes of consecutive slots as one forward pass and each run of busy slots
// as another (ubatch-split.ts), and requests arriving and leaving at random fragment the busy slots over time: 8
// streams in slots 1 and 8-14 took 35.5 ms a decode step where 8 in a row took 27. Between steps, one decoding
// stream per step moves into a free slot that joins runs (or takes the shortest run one slot closer to joining
// another), its KV copied over, when the copies (and saves of the destinations' cached content) cost less than the
// passes saved over PAYBACK_STEPS steps.

import type { KvOp } from "../runtime/step-plan.js";
import type { Sequence } from "./sequence.js";
import type { SlotAssignment, SlotTable } from "./slot-table.js";

/**
 * The moves that join two runs must pay for themselves within this many decode steps, and a stream moves only with
 * more than this many tokens left to generate (it may stop earlier: a guess at the horizon worth paying for).
 */
export const PAYBACK_STEPS = 16;

export interface RelocationCosts {
  /** What one more forward pass costs (ms): a one-token decode step; null before one was measured. */
  readonly passMs: number | null;
  /** What copying a slot's KV into another costs (ms, measured at load). */
  readonly copyMs: number;
  /** What saving one token's KV to the host tier costs (ms); absent: saves are not planned here. */
  readonly saveMsPerToken?: number | undefined;
  /** The slot table's save rule, in prefill tokens (kv-cost-tokens.ts). */
  readonly saveCostTokens?: ((tokens: number) => number) | undefined;
}

/**
 * Moves at most one stream (`streams`: decoding sequences by slot) and returns the KV operations that carry it out,
 * in order; empty when no move pays. Updates the slot table and the sequence's slot.
 */
export function relocateStream(slots: SlotTable, streams: ReadonlyMap<number, Sequence>, costs: RelocationCosts): KvOp[] {
  if (streams.size < 2 || costs.passMs === null) return [];
  const move = slots.relocation((slot) => {
    const seq = streams.get(slot);
    return seq !== undefined && seq.maxNewTokens - seq.outputTokens.length > PAYBACK_STEPS;
  });
  if (move === null) return [];
  const saveMs = costs.saveMsPerToken === undefined ? 0 : costs.saveMsPerToken * move.heldTokens;
  if (move.moves * (costs.copyMs + saveMs) > PAYBACK_STEPS * move.runsSaved * costs.passMs) return [];
  const seq = streams.get(move.from) as Sequence;
  const save = slots.relocate(move.from, move.to, costs.saveCostTokens);
  seq.slot = move.to;
  // A copy across llama.cpp's per-slot KV streams replaces the whole destination stream; the erase is a guard.
  return [...saveOps(move.to, save), { kind: "copy", fromSlot: move.from, toSlot: move.to }, { kind: "erase", slot: move.to, from: seq.computed, to: null }];
}

/** A slot's old content going to the host tier: the files dropped and moved to make room, then the save. */
export function saveOps(slot: number, save: SlotAssignment["save"]): KvOp[] {
  if (save === null) return [];
  const ops: KvOp[] = [];
  for (const path of save.drops) ops.push({ kind: "drop", path });
  for (const m of save.moves) ops.push({ kind: "move", from: m.from, to: m.to });
  ops.push({ kind: "save", slot, path: save.path, tokens: save.tokens });
  return ops;
}

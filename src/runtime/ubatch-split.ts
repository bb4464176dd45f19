// How one step's entries become llama_decode calls, shaped for the forward passes llama.cpp makes of each call.
// With one KV stream per sequence, llama.cpp cuts a call into passes (llama_batch_allocr::split_equal, sequential):
// reading the batch in order, a pass takes a set of sequences whose ids follow each other (each next one = last + 1)
// and as many tokens from each as the shortest of them has left. Two costs follow. Every run of consecutive slots is
// a pass of its own (so the slot table keeps busy slots in a row). And a prompt chunk next to a shorter one runs at
// the shorter one's width: on CPU, flash attention takes a sequence's rows of one pass in tiles of 64 only when it
// has at least 64 there (FA_TILE_ROWS), one row at a time otherwise, which costs far more per row at long contexts.
// Cut in the old order (slot order, entries split wherever a call filled up), 7 prompt rests of 82 tokens after 830
// cached ones became passes of 20 and 62 rows: 3.5 ms a token against 2.1 as one pass (bench model, n_ubatch 512).
//
// So: entries go into calls in slot order, whole when they fit, cut at a multiple of 64 tokens when they do not (a
// remainder too small for a tile waits for the next call instead); inside a call, runs (consecutive slots with equal
// token counts) are listed highest slots first, so no run can extend into a neighbour of another length: each run is
// exactly one pass, every sequence in it at its full width.

import { FA_TILE_ROWS } from "./narrow-prefill-cost.js";
import type { StepEntry } from "./step-plan.js";

/** One entry's tokens within one llama_decode call; sampleAt indexes into this piece's tokens. */
export type Piece = Omit<StepEntry, "outputIndex">;

/**
 * A step's entries cut into llama_decode calls of at most `ubatch` tokens each, every piece of one entry in a later
 * call than the one before it (a sequence's positions keep their order), each call listed run by run as above.
 */
export function splitIntoUbatches(entries: readonly StepEntry[], ubatch: number): Piece[][] {
  if (!(ubatch >= 1)) throw new Error(`ubatch must be >= 1, got ${ubatch}`);
  const queue = [...entries].sort((a, b) => a.slot - b.slot).map((entry) => ({ entry, offset: 0 }));
  const calls: Piece[][] = [];
  let call: Piece[] = [];
  let room = ubatch;
  const close = (): void => {
    calls.push(runsHighestFirst(call));
    call = [];
    room = ubatch;
  };
  for (const q of queue) {
    while (q.offset < q.entry.tokens.length) {
      const n = pieceLength(q.entry.tokens.length - q.offset, room, call.length === 0);
      if (n === 0) {
        close();
        continue;
      }
      call.push(piece(q.entry, q.offset, n));
      q.offset += n;
      room -= n;
      if (room === 0) close();
    }
  }
  if (call.length > 0) close();
  return calls;
}

/** Tokens of an entry's rest that go into the current call: all that fit, else whole tiles, else (0) none yet. */
function pieceLength(rest: number, room: number, callEmpty: boolean): number {
  if (rest <= room) return rest;
  const tiles = Math.floor(room / FA_TILE_ROWS) * FA_TILE_ROWS;
  if (tiles > 0) return tiles;
  return callEmpty ? room : 0;
}

function piece(e: StepEntry, offset: number, n: number): Piece {
  const whole = offset === 0 && n === e.tokens.length;
  return {
    seqId: e.seqId,
    slot: e.slot,
    start: e.start + offset,
    tokens: whole ? e.tokens : e.tokens.slice(offset, offset + n),
    sampleAt: whole ? e.sampleAt : e.sampleAt.filter((i) => i >= offset && i < offset + n).map((i) => i - offset),
    ...(e.verify === true ? { verify: true } : {}),
  };
}

/** A call's pieces (in slot order) regrouped: runs of consecutive slots with equal lengths, highest run first. */
function runsHighestFirst(pieces: readonly Piece[]): Piece[] {
  const runs: Piece[][] = [];
  for (const p of pieces) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (run !== undefined && last !== undefined && last.slot + 1 === p.slot && last.tokens.length === p.tokens.length) run.push(p);
    else runs.push([p]);
  }
  return runs.reverse().flat();
}

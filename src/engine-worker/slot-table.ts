// SlotTable: the one owner of an engine worker's slots (llama.cpp sequences) and what each slot's KV holds.
// What every slot holds (busy or free) is recorded in a radix prefix index, keyed by the request's cache scope, so a
// new prompt finds the longest prefix of it anywhere in the worker in one walk:
// - in a free slot: the prompt takes that slot and prefills only the rest (only the divergent tail is erased);
// - in another slot (busy, or free but not the one taken): its KV is copied into a free slot, when the tokens saved
//   outweigh the copy (llama.cpp copies a whole slot's KV stream: a fixed cost, measured at start-up, in tokens);
// - in a prompt still being prefilled: the new prompt waits for it instead of computing the same prefix at the
//   same time (n > 1 siblings, users sharing a system prompt who arrive together).
// It only records and decides; the scheduler plans the KV operations and the backend runs them.

import { PrefixIndex } from "./prefix-index.js";

/** Scope of requests with no cache salt; a salted scope is another negative number (scopeOf in sequence.ts). */
export const DEFAULT_SCOPE = -1;

export interface SlotAssignment {
  readonly slot: number;
  /** Leading prompt tokens whose KV the slot holds once the step's KV operations ran. */
  readonly reusedTokens: number;
  /** Copy this slot's KV into the assigned slot first (then erase beyond reusedTokens); null: no copy. */
  readonly copyFrom: number | null;
  /** The slot may hold KV beyond reusedTokens (a previous occupant's, or the copy's): erase it before the step. */
  readonly eraseTail: boolean;
}

export interface PrefixQuery {
  /** The cache scope (salt) the prompt may share KV within. */
  readonly scope: number;
  readonly prompt: readonly number[];
  /** False: reuse nothing (the request's cache_prompt: false, or --no-prefix-cache). */
  readonly reuse: boolean;
  /** Tokens of prefill a KV copy must save to be worth it (its cost, in prefill tokens). */
  readonly copyCostTokens: number;
}

/** Wait: a prompt being prefilled now shares enough of this one that computing it twice would waste the step. */
export type Acquired = SlotAssignment | "wait" | null;

export class SlotTable {
  private readonly owner: (string | null)[];
  /** What each slot's KV holds as [scope, ...tokens]: a prefix of its real content, kept after release. */
  private readonly held = new PrefixIndex<number>();
  /** Full scope-keyed prompts of slots still prefilling them. */
  private readonly inFlight = new PrefixIndex<number>();
  /** Use clock per slot, for the least recently used free slot as a copy's destination. */
  private readonly lastUsed: number[];
  private clock = 0;

  constructor(readonly size: number) {
    this.owner = new Array<string | null>(size).fill(null);
    this.lastUsed = new Array<number>(size).fill(0);
  }

  get busy(): number {
    return this.owner.reduce((n, o) => (o === null ? n : n + 1), 0);
  }

  get free(): number {
    return this.size - this.busy;
  }

  ownerOf(slot: number): string | null {
    return this.owner[slot] ?? null;
  }

  /**
   * A slot for the prompt, with the most of it already in KV: the free slot sharing the longest prefix, or a copy of
   * a longer prefix held elsewhere when it saves more than it costs; "wait" when a prompt being prefilled will
   * hold much more of it. Null when every slot is busy.
   */
  acquire(seqId: string, q: PrefixQuery): Acquired {
    const own = this.bestFree(q);
    if (own === null) return null;
    const key = keyOf(q.scope, q.prompt);
    // A full-prompt match still evaluates the last prompt token: sampling needs its logits.
    const usable = (n: number): number => Math.max(0, Math.min(n - 1, q.prompt.length - 1));
    const reused = usable(own.length);
    let pick: SlotAssignment = { slot: own.slot, reusedTokens: reused, copyFrom: null, eraseTail: this.held.lengthOf(own.slot) - 1 > reused };
    if (q.reuse) {
      const elsewhere = this.held.longest(key, (slot) => slot !== own.slot);
      if (elsewhere !== null && usable(elsewhere.length) - pick.reusedTokens > q.copyCostTokens) {
        pick = { slot: this.leastRecentlyUsedFree(), reusedTokens: usable(elsewhere.length), copyFrom: elsewhere.holder, eraseTail: true };
      }
      const flight = this.inFlight.longest(key);
      if (flight !== null && usable(flight.length) - pick.reusedTokens > q.copyCostTokens) return "wait";
    }
    this.owner[pick.slot] = seqId;
    this.lastUsed[pick.slot] = ++this.clock;
    this.held.set(pick.slot, key.slice(0, 1 + pick.reusedTokens));
    this.inFlight.set(pick.slot, key);
    return pick;
  }

  /** Record the tokens now in the slot's KV (as prefill advances, and at release). */
  setCached(slot: number, scope: number, tokens: readonly number[]): void {
    this.held.set(slot, keyOf(scope, tokens));
  }

  /** The slot's prompt is in KV: later prompts sharing it copy it instead of waiting. */
  prefilled(slot: number): void {
    this.inFlight.delete(slot);
  }

  release(slot: number): void {
    this.owner[slot] = null;
    this.lastUsed[slot] = ++this.clock;
    this.inFlight.delete(slot);
  }

  /** Total KV cells holding recorded live or cached tokens, for the KV-usage gauge. */
  cachedCells(): number {
    let n = 0;
    for (let slot = 0; slot < this.size; slot++) n += Math.max(0, this.held.lengthOf(slot) - 1);
    return n;
  }

  /** Free slot sharing the longest prefix with the prompt (ties: least recently used, then lowest index). */
  private bestFree(q: PrefixQuery): { slot: number; length: number } | null {
    const matches = q.reuse ? this.held.matchAll(keyOf(q.scope, q.prompt)) : new Map<number, number>();
    let best: { slot: number; length: number } | null = null;
    for (let slot = 0; slot < this.size; slot++) {
      if (this.owner[slot] !== null) continue;
      // The scope key matches for every slot that held anything in this scope: count prompt tokens only.
      const length = Math.max(1, matches.get(slot) ?? 0);
      const better =
        best === null || length > best.length || (length === best.length && (this.lastUsed[slot] as number) < (this.lastUsed[best.slot] as number));
      if (better) best = { slot, length };
    }
    return best;
  }

  private leastRecentlyUsedFree(): number {
    let pick = -1;
    for (let slot = 0; slot < this.size; slot++) {
      if (this.owner[slot] !== null) continue;
      if (pick < 0 || (this.lastUsed[slot] as number) < (this.lastUsed[pick] as number)) pick = slot;
    }
    return pick;
  }
}

/** The index key of a scoped token sequence: the scope first, so sequences of different scopes share nothing. */
function keyOf(scope: number, tokens: readonly number[]): number[] {
  return [scope, ...tokens];
}

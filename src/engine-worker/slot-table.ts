// SlotTable: the one owner of an engine worker's slots (llama.cpp sequences) and what each slot's KV holds.
// What every slot holds (busy or free) is recorded in a radix prefix index, keyed by the request's cache scope, so a
// new prompt finds the longest prefix of it anywhere in the worker in one walk:
// - in a free slot: the prompt takes that slot and prefills only the rest (only the divergent tail is erased);
// - in another slot (busy, or free but not the one taken): its KV is copied into a free slot, when the tokens saved
//   outweigh the copy (llama.cpp copies a whole slot's KV stream: a fixed cost, measured at start-up, in tokens);
// - in the host tier (prefixes evicted from slots, host-tier.ts): restored from its file when that beats recompute;
// - in a prompt still being prefilled: the new prompt waits for it instead of computing the same prefix at the
//   same time (n > 1 siblings, users sharing a system prompt who arrive together).
// A free slot's content that a new occupant overwrites goes to the host tier first, unless it is short, held
// elsewhere, or has never served reuse and saving it costs more than a tenth of recomputing it.
// Among free slots whose prefixes differ by no more than a copy's cost, it takes the one beside busy slots: llama.cpp
// runs consecutive slots' decodes in one forward pass and each gap costs another, every step (ubatch-split.ts).
// A decoding stream left alone between free slots moves next to the others when a copy of its KV pays for itself in
// the forward passes it saves (relocation): arrivals and departures fragment the busy slots over time.
// It only records and decides; the scheduler plans the KV operations and the backend runs them.

import { HOST_MIN_TOKENS, type HostTier } from "./host-tier.js";
import { PrefixIndex } from "../cache/prefix-index.js";
import { narrowPrefillBackoff } from "./narrow-prefill.js";

/** Scope of requests with no cache salt; a salted scope is another negative number (scopeOf in sequence.ts). */
export const DEFAULT_SCOPE = -1;

/** Where a prompt's reused prefix comes from when it is not already in the assigned slot. */
export type PrefixSource = { readonly kind: "slot"; readonly slot: number } | { readonly kind: "host"; readonly path: string };

export interface SlotAssignment {
  readonly slot: number;
  /** Leading prompt tokens whose KV the slot holds once the step's KV operations ran. */
  readonly reusedTokens: number;
  /** Copy a slot's KV, or restore a host-tier file, into the assigned slot first (then erase beyond reusedTokens). */
  readonly source: PrefixSource | null;
  /** The slot may hold KV beyond reusedTokens (a previous occupant's, or the source's): erase it before the step. */
  readonly eraseTail: boolean;
  /** Before anything else: the slot's old content goes to the host tier (with the files dropped to make room). */
  readonly save: {
    readonly path: string;
    readonly tokens: readonly number[];
    readonly drops: readonly string[];
    readonly moves: readonly { readonly from: string; readonly to: string }[];
  } | null;
}

/** A move of a busy slot's occupant into a free slot, joining runs of busy slots. */
export interface Relocation {
  readonly from: number;
  readonly to: number;
  /** Runs of consecutive busy slots fewer once `moves` moves like this one are made (forward passes per step). */
  readonly runsSaved: number;
  /** Moves it takes: 1 for a move that joins runs by itself; a run's length for moving the run. */
  readonly moves: number;
  /** Tokens the destination holds now (overwritten, or saved to the host tier first). */
  readonly heldTokens: number;
}

export interface PrefixQuery {
  /** The cache scope (salt) the prompt may share KV within. */
  readonly scope: number;
  readonly prompt: readonly number[];
  /** False: reuse nothing (the request's cache_prompt: false, or --no-prefix-cache). */
  readonly reuse: boolean;
  /** Tokens of prefill a KV copy must save to be worth it (its cost, in prefill tokens). */
  readonly copyCostTokens: number;
  /** What restoring a prefix of this many tokens from the host tier costs, in prefill tokens. */
  readonly restoreCostTokens?: (tokens: number) => number;
  /** What saving this many tokens to the host tier costs, in prefill tokens (absent: unknown, prohibitive). */
  readonly saveCostTokens?: (tokens: number) => number;
  /** The backend's cost of a rest too narrow for its attention tiles (narrow-prefill.ts); absent: none. */
  readonly narrowPrefillPenaltyPerCell?: number;
}

/**
 * Content that has not served reuse is saved only when the save costs at most this share of recomputing what it
 * loses: a guess at the odds that it is asked for again (a conversation's next turn, a prompt cycling through more
 * users than slots). On a CPU a save costs ~1% of a prefill, so everything long is saved (as llama-server's
 * --cache-ram does); where prefill is cheap (a GPU) unique prompts stop costing a file each.
 */
export const UNPROVEN_REUSE_ODDS = 0.1;

/** Wait: a prompt being prefilled now shares enough of this one that computing it twice would waste the step. */
export type Acquired = SlotAssignment | "wait" | null;

export class SlotTable {
  private readonly owner: (string | null)[];
  /** What each slot's KV holds as [scope, ...tokens]: a prefix of its real content, kept after release. */
  private readonly held = new PrefixIndex<number>();
  private readonly heldKeys: (readonly number[])[];
  /** Full scope-keyed prompts of slots still prefilling them. */
  private readonly inFlight = new PrefixIndex<number>();
  /** Use clock per slot, for the least recently used free slot as a copy's destination. */
  private readonly lastUsed: number[];
  private clock = 0;
  /** Slots whose KV content is unknown (a failed step touched them): reused by nothing, erased on next use. */
  private readonly unknown = new Set<number>();
  /**
   * Per slot, the most cached tokens its content has served (its occupant's own reuse, or a copy taken from it):
   * content that has shown reuse is always worth a host-tier file (as SGLang's selective write-through) and is
   * protected there; other content only when its save is cheap against recompute (UNPROVEN_REUSE_ODDS).
   */
  private readonly served: number[];

  constructor(
    readonly size: number,
    /** Where prefixes evicted from slots go; null: they are lost. */
    readonly host: HostTier | null = null,
  ) {
    this.owner = new Array<string | null>(size).fill(null);
    this.lastUsed = new Array<number>(size).fill(0);
    this.heldKeys = Array.from({ length: size }, () => []);
    this.served = new Array<number>(size).fill(0);
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
   * A slot for the prompt, with the most of it already in KV: the free slot sharing the longest prefix, a copy of a
   * longer prefix held by another slot, or a restore from the host tier, whichever saves the most prefill beyond its
   * cost; "wait" when a prompt being prefilled will hold much more of it. Null when every slot is busy.
   */
  acquire(seqId: string, q: PrefixQuery): Acquired {
    const own = this.bestFree(q);
    if (own === null) return null;
    const key = keyOf(q.scope, q.prompt);
    // A full-prompt match still evaluates the last prompt token: sampling needs its logits. A narrow rest after a
    // long prefix gives some of it back, where recomputing them costs less than the rest would alone.
    const usable = (n: number): number => {
      const u = Math.max(0, Math.min(n - 1, q.prompt.length - 1));
      return u - narrowPrefillBackoff(q.prompt.length - u, u, q.narrowPrefillPenaltyPerCell ?? 0);
    };
    const reused = usable(own.length);
    let pick: { slot: number; reusedTokens: number; source: PrefixSource | null } = { slot: own.slot, reusedTokens: reused, source: null };
    if (q.reuse) {
      const elsewhere = this.held.longest(key, (slot) => slot !== own.slot);
      if (elsewhere !== null && usable(elsewhere.length) - pick.reusedTokens > q.copyCostTokens) {
        pick = { slot: this.copyDestination(), reusedTokens: usable(elsewhere.length), source: { kind: "slot", slot: elsewhere.holder } };
      }
      const hosted = this.host?.longest(key) ?? null;
      const restoreCost = q.restoreCostTokens ?? ((): number => q.copyCostTokens);
      if (hosted !== null && usable(hosted.length) - pick.reusedTokens > restoreCost(usable(hosted.length))) {
        pick = { slot: this.copyDestination(), reusedTokens: usable(hosted.length), source: { kind: "host", path: hosted.path } };
      }
      const flight = this.inFlight.longest(key);
      if (flight !== null && usable(flight.length) - pick.reusedTokens > q.copyCostTokens) return "wait";
    }
    const restoring = pick.source?.kind === "host" ? pick.source.path : null;
    if (restoring !== null) this.host?.touch(restoring);
    const save = this.planEviction(pick.slot, pick.source === null ? pick.reusedTokens : 0, restoring, q.saveCostTokens);
    const heldBefore = this.unknown.delete(pick.slot) ? Number.POSITIVE_INFINITY : (this.heldKeys[pick.slot]?.length ?? 0);
    this.served[pick.slot] = pick.reusedTokens;
    if (pick.source?.kind === "slot") this.served[pick.source.slot] = Math.max(this.served[pick.source.slot] ?? 0, pick.reusedTokens);
    this.owner[pick.slot] = seqId;
    this.lastUsed[pick.slot] = ++this.clock;
    this.record(pick.slot, key.slice(0, 1 + pick.reusedTokens));
    this.inFlight.set(pick.slot, key);
    return { ...pick, eraseTail: pick.source !== null || heldBefore - 1 > pick.reusedTokens, save };
  }

  /**
   * The next move of a busy slot's occupant into a free slot that joins runs of consecutive busy slots (each run is
   * a forward pass of every decode step, ubatch-split.ts). A move that joins runs by itself wins (the most runs
   * joined, then the destination holding the least, its content being overwritten, then the least recently used);
   * otherwise the first move of the shortest run onto the end of another, which joins one run in as many moves as
   * the run is long. Null when neither exists. `movable`: the busy slots whose occupants may move (decoding streams).
   */
  relocation(movable: (slot: number) => boolean): Relocation | null {
    // One run or none (the common case, checked every step): nothing to join.
    const runs = this.busyRuns();
    if (runs.length < 2) return null;
    const free = this.freeSlots();
    return this.directMove(movable, free) ?? this.runMove(movable, runs, free);
  }

  private directMove(movable: (slot: number) => boolean, free: readonly number[]): Relocation | null {
    let best: Relocation | null = null;
    for (let from = 0; from < this.size; from++) {
      if (this.owner[from] === null || !movable(from)) continue;
      // Leaving `from` removes its run when alone, shortens one at an end, splits one in the middle.
      const left = this.isBusy(from - 1) + this.isBusy(from + 1) - 1;
      for (const to of free) {
        const saved = -(left + 1 - this.isBusy(to - 1, from) - this.isBusy(to + 1, from));
        if (saved > 0 && (best === null || saved > best.runsSaved || (saved === best.runsSaved && this.cheaperDestination(to, best.to))))
          best = { from, to, runsSaved: saved, moves: 1, heldTokens: this.heldTokens(to) };
      }
    }
    return best;
  }

  /** The first move of the shortest run of movable slots onto a free slot beside another run. */
  private runMove(movable: (slot: number) => boolean, runs: readonly { start: number; end: number }[], free: readonly number[]): Relocation | null {
    const shortest = runs.reduce((a, b) => (b.end - b.start < a.end - a.start ? b : a));
    for (let s = shortest.start; s <= shortest.end; s++) if (!movable(s)) return null;
    let best: Relocation | null = null;
    for (const to of free) {
      // Beside another run, not beside its own (moving along its own run's side joins nothing).
      if (to === shortest.start - 1 || to === shortest.end + 1 || this.isBusy(to - 1) + this.isBusy(to + 1) === 0) continue;
      if (best === null || this.cheaperDestination(to, best.to))
        best = { from: shortest.start, to, runsSaved: 1, moves: shortest.end - shortest.start + 1, heldTokens: this.heldTokens(to) };
    }
    return best;
  }

  /** Runs of consecutive busy slots, in slot order. */
  private busyRuns(): { start: number; end: number }[] {
    const runs: { start: number; end: number }[] = [];
    for (let slot = 0; slot < this.size; slot++) {
      if (this.owner[slot] === null) continue;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.end === slot - 1) last.end = slot;
      else runs.push({ start: slot, end: slot });
    }
    return runs;
  }

  /** 1 when the slot exists, is busy and is not `without`. */
  private isBusy(slot: number, without = -1): number {
    return slot >= 0 && slot < this.size && slot !== without && this.owner[slot] !== null ? 1 : 0;
  }

  private heldTokens(slot: number): number {
    return Math.max(0, (this.heldKeys[slot]?.length ?? 0) - 1);
  }

  /** Whether free slot a is the better one to overwrite: it holds less, then it was used longer ago. */
  private cheaperDestination(a: number, b: number): boolean {
    const held = this.heldTokens(a) - this.heldTokens(b);
    return held !== 0 ? held < 0 : (this.lastUsed[a] as number) < (this.lastUsed[b] as number);
  }

  /**
   * The occupant of `from` moves into free slot `to` (the scheduler copies the KV over): `to` holds what `from` held,
   * and `from` is free, keeping its content for reuse. Returns the host-tier save of `to`'s old content, if any.
   */
  relocate(from: number, to: number, saveCostTokens?: (tokens: number) => number): SlotAssignment["save"] {
    const owner = this.owner[from] ?? null;
    if (owner === null || this.owner[to] !== null) throw new Error(`bad relocation ${from} -> ${to}`);
    const save = this.planEviction(to, 0, null, saveCostTokens);
    this.unknown.delete(to);
    this.owner[to] = owner;
    this.owner[from] = null;
    this.lastUsed[from] = ++this.clock;
    this.lastUsed[to] = ++this.clock;
    this.served[to] = this.served[from] ?? 0;
    this.record(to, this.heldKeys[from] ?? []);
    return save;
  }

  /** Record the tokens now in the slot's KV (as prefill advances, and at release). */
  setCached(slot: number, scope: number, tokens: readonly number[]): void {
    this.record(slot, keyOf(scope, tokens));
  }

  /** A failed step may have left anything in the slot: reuse nothing from it, erase it all on its next use. */
  forget(slot: number): void {
    this.record(slot, []);
    this.inFlight.delete(slot);
    this.unknown.add(slot);
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

  /**
   * The slot's old content is about to be lost beyond `kept` tokens: save it to the host tier when what is lost is
   * long enough to be worth a file and most of what the file would hold (a file holds the whole sequence, and
   * writing it stalls the step: a shared system prompt with a short unique tail is not saved again and again), no
   * other slot or host entry holds all of it, and it has served reuse or its save is cheap (UNPROVEN_REUSE_ODDS).
   */
  private planEviction(slot: number, kept: number, keep: string | null, saveCost?: (tokens: number) => number): SlotAssignment["save"] {
    const old = this.heldKeys[slot] ?? [];
    const host = this.host;
    const lost = old.length - 1 - kept;
    if (host === null || lost < HOST_MIN_TOKENS || lost * 2 < old.length - 1) return null;
    const proven = (this.served[slot] ?? 0) >= HOST_MIN_TOKENS;
    if (!proven && !((saveCost?.(old.length - 1) ?? Number.POSITIVE_INFINITY) <= lost * UNPROVEN_REUSE_ODDS)) return null;
    if ((this.held.longest(old, (s) => s !== slot)?.length ?? 0) >= old.length || host.holds(old)) return null;
    const planned = host.planSave(old, keep, proven);
    return planned === null ? null : { path: planned.path, tokens: old.slice(1), drops: planned.drops, moves: planned.moves };
  }

  private record(slot: number, key: readonly number[]): void {
    this.heldKeys[slot] = key;
    this.held.set(slot, key);
  }

  /**
   * The free slot for the prompt: the longest shared prefix, except that a slot next to busy ones wins when it
   * shares at most a copy's cost less (ties: least recently used, then lowest index). Busy slots in a row decode in
   * one forward pass; each gap costs another per step (ubatch-split.ts), worth more than a few prompt tokens.
   */
  private bestFree(q: PrefixQuery): { slot: number; length: number } | null {
    const matches = q.reuse ? this.held.matchAll(keyOf(q.scope, q.prompt)) : new Map<number, number>();
    const free = this.freeSlots().map((slot) => ({ slot, length: Math.max(1, matches.get(slot) ?? 0) }));
    if (free.length === 0) return null;
    // The scope key matches for every slot that held anything in this scope: count prompt tokens only.
    const longest = Math.max(...free.map((f) => f.length));
    const near = free.filter((f) => f.length >= longest - q.copyCostTokens);
    return near.reduce((best, f) => (this.before(f, best) ? f : best));
  }

  /** A KV copy's destination: the free slot that keeps busy slots most in a row, then least recently used. */
  private copyDestination(): number {
    return this.freeSlots().reduce((best, slot) => (this.before({ slot, length: 0 }, { slot: best, length: 0 }) ? slot : best));
  }

  /** Whether free slot a ranks before b: fewer runs of busy slots added, then a longer prefix, then used longer ago. */
  private before(a: { slot: number; length: number }, b: { slot: number; length: number }): boolean {
    const runs = this.addedRuns(a.slot) - this.addedRuns(b.slot);
    if (runs !== 0) return runs < 0;
    if (a.length !== b.length) return a.length > b.length;
    return (this.lastUsed[a.slot] as number) < (this.lastUsed[b.slot] as number);
  }

  /** Runs of consecutive busy slots that taking this free slot adds: 1 alone, 0 beside one, -1 joining two. */
  private addedRuns(slot: number): number {
    const busy = (s: number): number => (s >= 0 && s < this.size && this.owner[s] !== null ? 1 : 0);
    return 1 - busy(slot - 1) - busy(slot + 1);
  }

  private freeSlots(): number[] {
    const free: number[] = [];
    for (let slot = 0; slot < this.size; slot++) if (this.owner[slot] === null) free.push(slot);
    return free;
  }
}

/** The index key of a scoped token sequence: the scope first, so sequences of different scopes share nothing. */
function keyOf(scope: number, tokens: readonly number[]): number[] {
  return [scope, ...tokens];
}

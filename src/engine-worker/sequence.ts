// Sequence: the engine-side request inside one engine worker, and its one state machine.
// Owns token bookkeeping (prompt, outputs, how many are in KV). It does not own a slot's KV (slot-table.ts does)
// and never talks to the model. Built by the engine loop from a tokenized request, driven by the scheduler.
//
//   waiting ──admit──▶ prefilling ──last prompt chunk sampled──▶ decoding
//      │                   │                                        │
//      └─────────cancel────┴──────────────cancel / stop / length────┴──▶ finished

import { createHash } from "node:crypto";
import type { FinishReason } from "../request/generate-request.js";
import { DEFAULT_SCOPE } from "./slot-table.js";

export type SequenceStatus = "waiting" | "prefilling" | "decoding" | "finished";

export const TRANSITIONS: Readonly<Record<SequenceStatus, readonly SequenceStatus[]>> = {
  waiting: ["prefilling", "finished"],
  prefilling: ["decoding", "finished"],
  decoding: ["finished"],
  finished: [],
};

export class InvariantError extends Error {
  override name = "InvariantError";
}

export interface SequenceInit {
  readonly id: string;
  readonly promptTokens: readonly number[];
  /** Hard cap on generated tokens (request max_tokens, or what is left of the slot's context). */
  readonly maxNewTokens: number;
  /** Scheduler step at arrival, for prefill aging. */
  readonly arrivalStep: number;
  /** KV is shared only within one scope (the request's cache salt; scopeOf). Default: the unsalted scope. */
  readonly cacheScope?: number;
  /** False: this prompt reuses no cached KV (cache_prompt: false, --no-prefix-cache). Default true. */
  readonly reuseCache?: boolean;
  /** The request's `speculative`: false never, true always (whatever the cost policy says); absent: the policy decides. */
  readonly speculative?: boolean | undefined;
}

export class Sequence {
  readonly id: string;
  readonly promptTokens: readonly number[];
  readonly maxNewTokens: number;
  readonly arrivalStep: number;
  readonly cacheScope: number;
  readonly reuseCache: boolean;
  private _status: SequenceStatus = "waiting";
  private readonly _outputTokens: number[] = [];
  /** Tokens of prompt+output already evaluated into this sequence's KV. */
  computed = 0;
  /** Prompt tokens whose KV was reused (the slot's previous occupant's, or copied from another slot). */
  cachedTokens = 0;
  slot: number | null = null;
  finishReason: FinishReason | null = null;
  /** Draft tokens proposed for the next step (speculative decoding); the scheduler verifies and clears them. */
  drafts: readonly number[] = [];
  /** Prompt done and first token out, but its decoding waits for the rest of its cohort (scheduler.ts). */
  heldForCohort = false;
  /** The request's `speculative`: auto (absent: as the policy decides), on (true: always), off (false: never). */
  readonly speculation: "auto" | "on" | "off";
  /** Draft tokens verified so far, and how many of them the model accepted. */
  drafted = 0;
  accepted = 0;
  /** Tokens in the slot's KV after the output: accepted drafts past a stop (keepOutput); the prefix cache keeps them. */
  private _beyond: number[] = [];

  constructor(init: SequenceInit) {
    this.id = init.id;
    this.promptTokens = init.promptTokens;
    this.maxNewTokens = init.maxNewTokens;
    this.arrivalStep = init.arrivalStep;
    this.cacheScope = init.cacheScope ?? DEFAULT_SCOPE;
    this.reuseCache = init.reuseCache ?? true;
    this.speculation = init.speculative === undefined ? "auto" : init.speculative ? "on" : "off";
  }

  get status(): SequenceStatus {
    return this._status;
  }

  get isFinished(): boolean {
    return this._status === "finished";
  }

  get outputTokens(): readonly number[] {
    return this._outputTokens;
  }

  /** Prompt followed by outputs (and, once finished, tokens kept beyond them): the stream in its slot's KV. */
  tokenAt(index: number): number {
    const p = this.promptTokens.length;
    const o = this._outputTokens.length;
    const t = index < p ? this.promptTokens[index] : index < p + o ? this._outputTokens[index - p] : this._beyond[index - p - o];
    if (t === undefined) throw new InvariantError(`sequence ${this.id}: no token at ${index}`);
    return t;
  }

  get totalTokens(): number {
    return this.promptTokens.length + this._outputTokens.length;
  }

  /** Prompt tokens not yet in KV. */
  get remainingPrompt(): number {
    return Math.max(0, this.promptTokens.length - this.computed);
  }

  transition(to: SequenceStatus): void {
    if (!TRANSITIONS[this._status].includes(to)) {
      throw new InvariantError(`sequence ${this.id}: illegal transition ${this._status} -> ${to}`);
    }
    this._status = to;
  }

  appendOutput(token: number): void {
    if (this._status !== "prefilling" && this._status !== "decoding") {
      throw new InvariantError(`sequence ${this.id}: cannot append output while ${this._status}`);
    }
    this._outputTokens.push(token);
  }

  /**
   * A stop came before the last token this step accepted: the output ends after `n` tokens. Tokens past it that are
   * already in KV stay readable by tokenAt (the slot holds them; the prefix cache may reuse them).
   */
  keepOutput(n: number): void {
    if (n >= this._outputTokens.length) return;
    this._beyond = this._outputTokens.splice(n);
  }

  finish(reason: FinishReason): void {
    this.transition("finished");
    this.finishReason = reason;
  }
}

/**
 * The cache scope of a salt: a negative number (token ids are never negative) from 52 bits of its SHA-256, so two
 * salts share a scope only by a hash collision (about 2^-52 per pair). No salt: DEFAULT_SCOPE.
 */
export function scopeOf(salt: string | null): number {
  if (salt === null) return DEFAULT_SCOPE;
  const bits = Number.parseInt(createHash("sha256").update(salt).digest("hex").slice(0, 13), 16);
  return -2 - bits;
}

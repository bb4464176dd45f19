// StepPlan and StepResult: what one engine step computes, and what came back. The plan is complete data: KV
// operations to run first, then per sequence its slot, its tokens with their first position, and which of those
// positions' logits are sampled (several per sequence: the verify path of speculation). The backend executes it and
// keeps no per-sequence state of its own. Shared by the pure scheduler (which writes plans) and the backend.

/** Run in order before the step's decode. */
export type KvOp =
  /** Forget the slot's KV cells at positions [from, to) (to null: to the end). */
  | { readonly kind: "erase"; readonly slot: number; readonly from: number; readonly to: number | null }
  /** Make `toSlot` hold exactly what `fromSlot` holds. */
  | { readonly kind: "copy"; readonly fromSlot: number; readonly toSlot: number }
  /** Write the slot's KV (which holds exactly `tokens`) to `path` (the host tier). */
  | { readonly kind: "save"; readonly slot: number; readonly path: string; readonly tokens: readonly number[] }
  /** Make the slot hold exactly what the file at `path` holds. */
  | { readonly kind: "restore"; readonly slot: number; readonly path: string }
  /** Delete a saved file (evicted from the host tier). */
  | { readonly kind: "drop"; readonly path: string }
  /** Move a saved file from the RAM tier to the disk tier (its size is reported under `to` in StepResult.saved). */
  | { readonly kind: "move"; readonly from: string; readonly to: string };

export interface StepEntry {
  readonly seqId: string;
  readonly slot: number;
  /** Position in the sequence's token stream of tokens[0] (equals its computed count). */
  readonly start: number;
  readonly tokens: readonly number[];
  /**
   * Indexes into `tokens` (ascending) whose next-token distribution is sampled, one sampled token each; empty for a
   * prefill chunk that does not end the prompt, [tokens.length - 1] for a decode.
   */
  readonly sampleAt: readonly number[];
  /** How many tokens of output this sequence already has. */
  readonly outputIndex: number;
  /**
   * Speculative verification: tokens are [last sampled token, ...drafts] and every index is sampled, in order, until a
   * sampled token differs from the draft fed after it (the target's own choice, which replaces it). Positions after
   * that one are erased from the slot's KV before the step returns: the slot then holds start + samples tokens, and
   * the request's sampler has seen exactly the tokens it emits (its random stream, penalties and grammar advance as
   * in plain decoding).
   */
  readonly verify?: boolean;
}

export interface StepPlan {
  readonly step: number;
  readonly kvOps: readonly KvOp[];
  readonly entries: readonly StepEntry[];
  readonly decodeTokens: number;
  readonly prefillTokens: number;
  /** Threads for the step's multi-token llama_decode calls; absent: the backend's --threads-batch. */
  readonly threads?: number;
}

export interface TopLogprob {
  readonly token: number;
  readonly logprob: number;
}

export interface SampledToken {
  readonly token: number;
  /** Present only when the request asked for logprobs. */
  readonly logprob?: number;
  readonly top?: readonly TopLogprob[];
}

export interface StepResult {
  /**
   * Keyed by seqId: one token per entry of its sampleAt, in order (a verify entry: up to and including the first
   * token that differs from its draft, or one per index when every draft matched); entries with nothing to sample are
   * absent.
   */
  readonly sampled: ReadonlyMap<string, readonly SampledToken[]>;
  /** Bytes written per `save` op's path (and per `move` op's destination); one that failed is absent (its entry must be forgotten). */
  readonly saved?: ReadonlyMap<string, number>;
}

// Proposer: what every speculative-decoding draft source implements (after vLLM's spec_decode proposers). Between
// steps the speculator asks for at most k draft tokens per sequence; the next step verifies them in the target's
// own decode (a verify entry of the step plan). A proposer only guesses: a wrong draft costs a little compute,
// never a wrong token.

import type { Sequence } from "../sequence.js";

export type ProposerName = "draft" | "ngram";

export interface DraftRequest {
  readonly seq: Sequence;
  /** Most drafts wanted (≥ 1). */
  readonly k: number;
}

export interface Proposer {
  readonly name: ProposerName;
  /** Drafts per sequence id: at most k each; a sequence with nothing worth proposing is absent. */
  propose(requests: readonly DraftRequest[]): Promise<ReadonlyMap<string, readonly number[]>>;
  /** What one drafted token costs this proposer, in ms (measured; 0 when it is free). */
  msPerDraftToken(): number;
  /** The sequence finished: drop what was kept for it. */
  forget(seq: Sequence): void;
  dispose(): Promise<void>;
}

// StepPlan and StepResult: what one engine step evaluates, and what came back.
// Shared by the pure scheduler (which writes plans) and the model backend (which executes them); plain data only.

export interface StepEntry {
  readonly seqId: string;
  readonly slot: number;
  /** Position in the sequence's token stream of tokens[0] (equals its computed count). */
  readonly start: number;
  readonly tokens: readonly number[];
  /** Sample a token after the last input token (false for a prefill chunk that does not end the prompt). */
  readonly sample: boolean;
  /** How many tokens of output this sequence already has: the per-step seed index. */
  readonly outputIndex: number;
}

export interface StepPlan {
  readonly step: number;
  readonly entries: readonly StepEntry[];
  readonly decodeTokens: number;
  readonly prefillTokens: number;
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
  /** Keyed by seqId; only entries planned with sample=true appear. */
  readonly sampled: ReadonlyMap<string, SampledToken>;
}

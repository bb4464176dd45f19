// ModelBackend: the typed seam between the engine loop and the native library. The engine loop, scheduler and
// output processing see only this interface; runtime/llama-backend.ts implements it over node-llama-cpp.

import type { SamplingParams } from "../request/generate-request.js";
import type { KvCosts } from "./kv-costs.js";
import type { StepPlan, StepResult } from "./step-plan.js";

export interface ModelInfo {
  readonly path: string;
  readonly trainContextSize: number;
  readonly vocabSize: number;
  /** Per-slot KV cells. */
  readonly slotContextSize: number;
  readonly slots: number;
  readonly chatTemplate: string | null;
  readonly bosText: string;
  readonly eosText: string;
  readonly gpu: string | false;
  /** llama.cpp threads for single-token steps, resolved. */
  readonly threads: number;
  readonly threadsBatch: number;
  readonly buildType: string;
  /** The GGUF's general.architecture (llama, qwen2, mamba, …). */
  readonly architecture: string;
  /** Upper bound on the UTF-8 bytes one token stands for: a text longer than slotContextSize × this cannot fit. */
  readonly maxTokenBytes: number;
  /** What KV copies between slots and host-tier files cost here (measured at load). */
  readonly kvCosts: KvCosts;
  /** Extra cost, in prefill tokens per row per context cell, of a prompt chunk too narrow for CPU flash attention's tiles; 0: none. */
  readonly narrowPrefillPenaltyPerCell?: number;
}

/** Per-sequence sampling state the backend reads each step; owned by the engine loop. */
export interface SequenceSampling {
  readonly params: SamplingParams;
  /** null: no logprobs; n: top-n alternatives (0..20). */
  readonly logprobs: number | null;
  /** EOS/EOG may not be sampled now (ignore_eos, or min_tokens not reached). */
  suppressEog: boolean;
  /** Generated tokens so far (penalties apply to these). */
  readonly outputTokens: readonly number[];
  /** GBNF every sampled token must keep matching; absent or null: unconstrained. Set mid-request by a lazy grammar. */
  grammar?: string | null;
  /**
   * Text the grammar must read before its next sample (a lazy grammar armed by text the model already wrote);
   * cleared by the executor once read.
   */
  grammarFed?: string | undefined;
}

export interface ModelBackend {
  readonly info: ModelInfo;
  /**
   * Text → ids. `special` parses special-token text (chat templates); BOS is prepended when the model wants it,
   * unless addBos is false.
   */
  tokenize(text: string, special: boolean, addBos?: boolean): number[];
  /**
   * Ids → text; `special` renders special tokens (BOS, EOS) as their text instead of dropping them. `previous`
   * are the tokens before these, so the text is their continuation (a word-start token keeps its leading space).
   */
  detokenize(tokens: readonly number[], special?: boolean, previous?: readonly number[]): string;
  isEog(token: number): boolean;
  /** Parses a grammar ahead of its first step (cached); throws LoomError invalid_request when it cannot be parsed. */
  prepareGrammar(grammar: string): void;
  /** Run one step: every entry's tokens in one llama_decode, then sample where planned. */
  step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult>;
  /** The request that owns this sampling finished or was cancelled: free its native sampler (its KV stays). */
  releaseSampling(sampling: SequenceSampling): void;
  /** KV cells in use across all slots (0..slots*slotContextSize). */
  kvCellsUsed(): number;
  dispose(): Promise<void>;
}

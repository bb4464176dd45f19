// The main-thread <-> engine-worker protocol: a versioned discriminated union of structured-clone-safe messages.
// One "step" message per engine step carries every sequence's new tokens, so the main thread never drives steps.

import type { ErrorData } from "../errors.js";
import type { FinishReason, GenerateRequestFields, TokenLogprobData, Usage } from "../request/generate-request.js";

/** Per-request phase durations measured inside the engine worker. */
export interface EngineTimings {
  /** Waiting for a slot. */
  readonly queueMs: number;
  /** Slot acquired → first token. */
  readonly prefillMs: number;
  /** First token → finish. */
  readonly decodeMs: number;
}

export type { TokenLogprobData };
import type { TokenizeRequest, TokenizeResult } from "../request/parse-tokenize-request.js";
import type { ModelInfo } from "../runtime/model-backend.js";

export const PROTOCOL_VERSION = 2;

/** How an engine worker runs its model: the knobs every worker of a model shares. */
export interface EngineTuning {
  readonly slots: number;
  readonly slotContextSize: number;
  /** Most tokens per engine step (the scheduler's budget). */
  readonly batchSize: number;
  /** Most tokens per llama_decode call. */
  readonly ubatchSize: number;
  /** While streams decode, steps that also prefill aim to take at most this many ms; 0 = no target. */
  readonly itlTargetMs: number;
  /** False: no prompt reuses cached KV (--no-prefix-cache). */
  readonly prefixCache: boolean;
  /** Host-tier bytes per engine worker (--kv-host-bytes; 0 = no host tier) and its base directory (null: default). */
  readonly kvHostBytes: number;
  readonly kvHostDir: string | null;
  /** Disk tier base directory (null: none) and its bytes per engine worker. */
  readonly kvDiskDir: string | null;
  readonly kvDiskBytes: number;
  readonly flashAttn: "auto" | "on" | "off";
  readonly threads: number;
  readonly threadsBatch: number;
  /** libuv pool threads per engine (--sampling-threads): decodes and samples run there. */
  readonly samplingThreads: number;
  readonly gpu: "auto" | "cuda" | "vulkan" | "cpu";
  readonly gpuLayers: number | "max";
  readonly nativeBuild: "auto" | "never";
  /** Speculative decoding: proposers in the order tried (empty: off), and the draft lengths per step. */
  readonly speculation: { readonly types: readonly ("draft" | "ngram")[]; readonly nMax: number; readonly nMin: number };
}

export interface EngineWorkerData extends EngineTuning {
  readonly version: typeof PROTOCOL_VERSION;
  readonly workerId: number;
  readonly modelName: string;
  readonly modelPath: string;
  /** The draft model for speculative decoding (used when speculation.types has "draft"); null: none. */
  readonly draftModelPath: string | null;
}

export type ToWorker =
  /** `id` is the engine's own (unique per worker); `requestId` the transport's (x-request-id), for log lines. */
  | { readonly type: "submit"; readonly id: string; readonly requestId: string; readonly request: GenerateRequestFields }
  | { readonly type: "cancel"; readonly id: string; readonly reason: "cancelled" | "deadline_exceeded" }
  /** Answered with tokenized or tokenize_failed; takes no slot. */
  | { readonly type: "tokenize"; readonly id: string; readonly request: TokenizeRequest }
  | { readonly type: "shutdown" };

/** What one sequence produced in one step. */
export interface SequenceEvent {
  readonly id: string;
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly logprobs?: readonly TokenLogprobData[];
  readonly finish?: {
    readonly reason: FinishReason;
    readonly usage: Usage;
    readonly error?: ErrorData;
    readonly timings?: EngineTimings;
    /** Draft tokens verified for this request and how many were accepted; absent when it never speculated. */
    readonly speculation?: { readonly drafted: number; readonly accepted: number };
  };
}

import type { HostTierStats } from "./host-tier.js";

/** Cumulative speculative-decoding counts of one proposer in one worker (what the metrics export). */
export interface SpeculationCounts {
  /** Verifications run: one per sequence per step with drafts (vLLM's num_drafts). */
  drafts: number;
  draftTokens: number;
  acceptedTokens: number;
}

export type SpeculationStats = Partial<Record<"draft" | "ngram", SpeculationCounts>>;

export interface EngineStats {
  readonly steps: number;
  readonly slots: number;
  readonly slotsBusy: number;
  readonly running: number;
  readonly waiting: number;
  readonly kvCellsUsed: number;
  readonly kvCellsTotal: number;
  readonly lastStepMs: number;
  readonly lastBatchTokens: number;
  readonly lastDecodeTokens: number;
  readonly lastPrefillTokens: number;
  /** KV copies between slots (prefix reuse) the last step ran. */
  readonly lastKvCopies: number;
  /** Host-tier restores the last step ran. */
  readonly lastKvRestores: number;
  /** The host tier now (zeros without one). */
  readonly hostTier: HostTierStats;
  /** Current adaptive prefill chunk (tokens per step while streams decode). */
  readonly prefillChunk: number;
  /** Speculative decoding so far, per proposer (cumulative). */
  readonly speculation: SpeculationStats;
}

export type FromWorker =
  | { readonly type: "ready"; readonly info: ModelInfo; readonly stats: EngineStats }
  | { readonly type: "fatal"; readonly error: ErrorData }
  | { readonly type: "accepted"; readonly id: string; readonly promptTokens: number }
  | { readonly type: "rejected"; readonly id: string; readonly error: ErrorData }
  | { readonly type: "step"; readonly events: readonly SequenceEvent[]; readonly stats: EngineStats }
  | { readonly type: "tokenized"; readonly id: string; readonly result: TokenizeResult }
  | { readonly type: "tokenize_failed"; readonly id: string; readonly error: ErrorData }
  | { readonly type: "stopped" };

/** An engine process carries the messages of the engines it hosts (engine-process-entry.ts), each tagged with its id. */
export type ToEngineProcess =
  { readonly type: "init"; readonly engines: readonly EngineWorkerData[] } | { readonly type: "engine"; readonly workerId: number; readonly msg: ToWorker };

export interface FromEngineProcess {
  readonly workerId: number;
  readonly msg: FromWorker;
}

// Plain stats the engine produces for whoever observes it (metrics exporter, request log). The engine never imports
// a metrics library; observers never reach into the engine. One object per finished request, one per step.

import type { ErrorCode } from "../errors.js";
import type { FinishReason } from "../request/generate-request.js";
import type { EngineStats, EngineTimings } from "../engine-worker/worker-messages.js";

export type { EngineTimings } from "../engine-worker/worker-messages.js";

export type Transport = "http" | "ws" | "grpc";

/** Who asked: set by the transport at submit, carried into the stats. */
export interface RequestMeta {
  readonly requestId: string;
  readonly transport: Transport;
  /** What the client asked for, in GenAI terms ("chat", "text_completion"). */
  readonly operation: string;
  /** Incoming W3C traceparent, when the client sent one. */
  readonly traceparent?: string;
  /** The API key's name (never the key); absent when auth is off. */
  readonly caller?: string;
}

export interface FinishedRequestStats extends RequestMeta {
  readonly model: string;
  /** null when the request failed. */
  readonly finishReason: FinishReason | null;
  readonly errorCode: ErrorCode | null;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly ttftMs: number | null;
  readonly e2eMs: number;
  readonly timings: EngineTimings | null;
  /** Draft tokens verified for this request and how many were accepted; null when it never speculated. */
  readonly speculation: { readonly drafted: number; readonly accepted: number } | null;
  /** Prompt and output, only when the operator asked for content logging (`--log-content`). */
  readonly content?: { readonly prompt: string; readonly output: string };
}

export interface EngineObserver {
  requestFinished(stats: FinishedRequestStats): void;
  /** `count` tokens arrived `gapMs` after the previous ones of the same request (inter-token latency). */
  tokens(model: string, count: number, gapMs: number): void;
  step(model: string, workerId: number, stats: EngineStats): void;
}

export const NO_OBSERVER: EngineObserver = {
  requestFinished: () => {},
  tokens: () => {},
  step: () => {},
};

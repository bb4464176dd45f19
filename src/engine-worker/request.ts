// WorkerRequest: the one record of a request inside an engine worker (after vLLM's Request). Its scheduling state is
// the Sequence the pure scheduler moves (status, prompt and output token ids — one copy —, computed count, slot); its
// output state is the detokenizer, stop matcher and sampling the output processor and the backend read; plus the
// phase timestamps and why it was cancelled. The engine loop keeps one map of these, nothing else per request.

import type { GenerateRequestFields } from "../request/generate-request.js";
import type { OutputState } from "./output-processor.js";
import type { Sequence } from "./sequence.js";
import type { EngineTimings } from "./worker-messages.js";

export type CancelReason = "cancelled" | "deadline_exceeded";

/** Tokenizing → (scheduled: seq and out set) → gone from the loop's map when finished. */
export class WorkerRequest {
  seq: Sequence | null = null;
  out: OutputState | null = null;
  /** Set by cancel(); applied at the next step boundary (or when tokenization returns). */
  cancel: CancelReason | null = null;
  /** performance.now() in this worker. */
  readonly arrivedAt = performance.now();
  admittedAt: number | null = null;
  firstTokenAt: number | null = null;

  constructor(
    readonly id: string,
    readonly fields: GenerateRequestFields,
    /** The transport's request id (the client's x-request-id, or one the server made): what log lines name. */
    readonly requestId: string = id,
  ) {}

  /** Queue, prefill and decode durations, as of now. */
  timings(now = performance.now()): EngineTimings {
    const admitted = this.admittedAt ?? now;
    const first = this.firstTokenAt ?? now;
    return { queueMs: admitted - this.arrivedAt, prefillMs: Math.max(0, first - admitted), decodeMs: Math.max(0, now - first) };
  }
}

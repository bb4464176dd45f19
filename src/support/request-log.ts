// One structured log line per finished request (request id, model, transport, token counts, TTFT, duration, finish
// reason or error code). Prompt and output text only with --log-content. Consumes the engine's FinishedRequestStats.

import type { Logger } from "pino";
import type { FinishedRequestStats } from "../engine/request-stats.js";

export class RequestLog {
  constructor(private readonly logger: Logger) {}

  /** `traceId` links the line to the request's trace when tracing is on. */
  write(s: FinishedRequestStats, traceId: string | null): void {
    // A client's bad request is routine; only a failure on our side is worth a warning.
    const level = s.errorCode === "engine_failure" || s.errorCode === "internal_error" ? "warn" : "info";
    if (!this.logger.isLevelEnabled(level)) return;
    this.logger[level](
      {
        requestId: s.requestId,
        model: s.model,
        transport: s.transport,
        promptTokens: s.promptTokens,
        cachedTokens: s.cachedTokens,
        completionTokens: s.completionTokens,
        ttftMs: s.ttftMs === null ? null : Math.round(s.ttftMs),
        durationMs: Math.round(s.e2eMs),
        ...(s.timings ? { queueMs: Math.round(s.timings.queueMs) } : {}),
        ...(s.speculation ? { draftTokens: s.speculation.drafted, acceptedTokens: s.speculation.accepted } : {}),
        finishReason: s.finishReason,
        ...(s.errorCode !== null ? { error: s.errorCode } : {}),
        ...(traceId !== null ? { traceId } : {}),
        ...(s.content === undefined ? {} : { prompt: s.content.prompt, output: s.content.output }),
      },
      "request finished",
    );
  }
}

// Opt-in OpenTelemetry tracing (`--otlp-endpoint`): one span per finished request with child spans for queueing,
// prefill and decode, attributes after the GenAI semantic conventions, exported over OTLP/HTTP. Spans are built
// when the request finishes, from the phase durations the engine measured, so tracing costs nothing per token.
// An incoming W3C `traceparent` makes the request span its child.

import { context, trace, SpanKind, SpanStatusCode, type Span, type Tracer } from "@opentelemetry/api";
import { parseTraceParent } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { FinishedRequestStats } from "../engine/request-stats.js";

export class RequestTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  /** `processor` is for tests (an in-memory exporter); production passes an OTLP endpoint. */
  constructor(target: { readonly endpoint: string } | { readonly processor: SpanProcessor }, serviceName = "loom") {
    const processor = "processor" in target ? target.processor : new BatchSpanProcessor(otlp(target.endpoint));
    this.provider = new BasicTracerProvider({ resource: resourceFromAttributes({ "service.name": serviceName }), spanProcessors: [processor] });
    this.tracer = this.provider.getTracer("loom");
  }

  /** Record a finished request's spans; returns the trace id (for the request's log line). */
  record(s: FinishedRequestStats): string {
    const end = Date.now();
    const start = end - s.e2eMs;
    const parent = s.traceparent === undefined ? undefined : parseTraceParent(s.traceparent);
    const ctx = parent ? trace.setSpanContext(context.active(), parent) : context.active();
    const root = this.tracer.startSpan(`${s.operation} ${s.model}`, { kind: SpanKind.SERVER, startTime: start, attributes: genAiAttributes(s) }, ctx);
    if (s.timings !== null) this.phases(root, s, end);
    if (s.errorCode !== null) root.setStatus({ code: SpanStatusCode.ERROR, message: s.errorCode });
    root.end(end);
    return root.spanContext().traceId;
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }

  /** queue → prefill → decode, laid back from the end of the request. */
  private phases(root: Span, s: FinishedRequestStats, end: number): void {
    const t = s.timings as NonNullable<FinishedRequestStats["timings"]>;
    const decodeStart = end - t.decodeMs;
    const prefillStart = decodeStart - t.prefillMs;
    const queueStart = prefillStart - t.queueMs;
    const ctx = trace.setSpan(context.active(), root);
    for (const [name, from, to] of [
      ["queue", queueStart, prefillStart],
      ["prefill", prefillStart, decodeStart],
      ["decode", decodeStart, end],
    ] as const) {
      this.tracer.startSpan(name, { startTime: from }, ctx).end(to);
    }
  }
}

function otlp(endpoint: string): SpanExporter {
  return new OTLPTraceExporter({ url: endpoint });
}

/** GenAI semantic-convention attributes (gen_ai.*), plus Loom's own ids. */
function genAiAttributes(s: FinishedRequestStats): Record<string, string | number | string[]> {
  return {
    "gen_ai.operation.name": s.operation,
    "gen_ai.provider.name": "loom",
    "gen_ai.request.model": s.model,
    "gen_ai.response.model": s.model,
    "gen_ai.usage.input_tokens": s.promptTokens,
    "gen_ai.usage.output_tokens": s.completionTokens,
    "gen_ai.response.finish_reasons": [s.finishReason ?? "error"],
    "loom.request.id": s.requestId,
    "loom.transport": s.transport,
    "loom.cached_tokens": s.cachedTokens,
    ...(s.ttftMs === null ? {} : { "loom.ttft_ms": s.ttftMs }),
  };
}

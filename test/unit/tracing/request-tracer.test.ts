// RequestTracer with OpenTelemetry's in-memory exporter: one SERVER span per request with GenAI attributes and
// queue/prefill/decode children laid out in order, parented to an incoming traceparent when there is one.
import { describe, expect, it } from "vitest";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { FinishedRequestStats } from "../../../src/engine/request-stats.js";
import { RequestTracer } from "../../../src/tracing/request-tracer.js";

const stats: FinishedRequestStats = {
  requestId: "req-1",
  transport: "http",
  operation: "chat",
  model: "tiny",
  finishReason: "length",
  errorCode: null,
  promptTokens: 20,
  cachedTokens: 4,
  completionTokens: 8,
  ttftMs: 30,
  e2eMs: 100,
  timings: { queueMs: 10, prefillMs: 20, decodeMs: 60 },
  speculation: null,
};

function setup(): { tracer: RequestTracer; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  return { tracer: new RequestTracer({ processor: new SimpleSpanProcessor(exporter) }), exporter };
}

const ms = (t: readonly [number, number]): number => t[0] * 1000 + t[1] / 1e6;

describe("RequestTracer", () => {
  it("records a request span with GenAI attributes and ordered phase children", () => {
    const { tracer, exporter } = setup();
    const traceId = tracer.record(stats);
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === "chat tiny");
    expect(root?.spanContext().traceId).toBe(traceId);
    expect(root?.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "tiny",
      "gen_ai.usage.input_tokens": 20,
      "gen_ai.usage.output_tokens": 8,
      "gen_ai.response.finish_reasons": ["length"],
      "loom.request.id": "req-1",
    });
    const phases = ["queue", "prefill", "decode"].map((n) => spans.find((s) => s.name === n));
    for (const p of phases) expect(p?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
    const [queue, prefill, decode] = phases;
    expect(ms(prefill!.startTime)).toBeCloseTo(ms(queue!.endTime), 3);
    expect(ms(decode!.startTime)).toBeCloseTo(ms(prefill!.endTime), 3);
    expect(ms(decode!.endTime) - ms(decode!.startTime)).toBeCloseTo(60, 0);
    expect(ms(root!.endTime)).toBeCloseTo(ms(decode!.endTime), 3);
  });

  it("joins the caller's trace from a W3C traceparent and marks errors", () => {
    const { tracer, exporter } = setup();
    const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const traceId = tracer.record({ ...stats, traceparent: parent, finishReason: null, errorCode: "deadline_exceeded", timings: null });
    expect(traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    const [root] = exporter.getFinishedSpans();
    expect(root?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
    expect(root?.status).toMatchObject({ code: 2, message: "deadline_exceeded" });
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });
});

// Tracing end to end: a real server with --otlp-endpoint pointing at a loopback OTLP/HTTP receiver; a request that
// carries a W3C traceparent produces spans in the caller's trace, flushed when the server shuts down.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

interface OtlpSpan {
  traceId: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}
interface OtlpBody {
  resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
}

let collector: Server;
const received: OtlpSpan[] = [];
let h: Harness;

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpBody;
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const port = (collector.address() as AddressInfo).port;
  h = await startHarness(["--otlp-endpoint", `http://127.0.0.1:${port}/v1/traces`]);
});

afterAll(async () => {
  await new Promise<void>((r) => collector.close(() => r()));
});

describe("OpenTelemetry tracing", () => {
  it("exports a request span in the caller's trace with queue/prefill/decode children", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    await h.close(); // flushes the batch span processor
    const mine = received.filter((s) => s.traceId === traceId);
    expect(mine.map((s) => s.name).sort()).toEqual(["chat tiny", "decode", "prefill", "queue"]);
    const root = mine.find((s) => s.name === "chat tiny");
    expect(root?.attributes.find((a) => a.key === "gen_ai.usage.output_tokens")?.value).toEqual({ intValue: 4 });
  });
});

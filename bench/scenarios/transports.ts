// Transport comparison: 64 concurrent chat streams over SSE, WebSocket (Realtime events) and gRPC against one
// server with 64 slots, one transport at a time, same prompts and lengths. Reports aggregate output tok/s and TTFT,
// and each transport's ratio to SSE.

import WebSocket from "ws";
import { credentials, loadPackageDefinition, type Client, type ClientReadableStream } from "@grpc/grpc-js";
import { loadGenerationProto } from "../../src/transport/grpc/grpc-server.js";
import type { BenchConfig } from "../bench-config.js";
import { serverFlags } from "../bench-config.js";
import { percentiles, type Percentiles } from "../load-generator.js";
import { startBenchServer, warmUp } from "../server-process.js";

export interface TransportRun {
  readonly transport: "sse" | "ws" | "grpc";
  readonly outputTokensPerSecond: number;
  readonly ttftMs: Percentiles;
  readonly tokensPerSecondVsSse: number;
  readonly ttftP50VsSse: number;
  /** TTFT of one request at a time (no queueing or batching): what the transport itself adds. */
  readonly aloneTtftMs: Percentiles;
}

interface Sample {
  readonly ttftMs: number;
  readonly tokens: number;
}

const STREAMS = 64;
const MAX_TOKENS = 64;
type Grpc = Client & { Chat: (req: Record<string, unknown>) => ClientReadableStream<Record<string, unknown>> };

export async function runTransports(cfg: BenchConfig): Promise<TransportRun[]> {
  const server = await startBenchServer(serverFlags(cfg, ["--parallel", "64", "--ctx-size", String(64 * 256), "--grpc-port", "0"]));
  try {
    await warmUp(server.url, cfg.modelName);
    const grpcPort = await grpcPortOf(server.url);
    // ABC then CBA, so warm-up and drift hit every transport alike; prompts start with a random nonce so no run
    // reuses another's KV through the prefix cache.
    // One unmeasured round with all three at once: the first 64-stream round on a fresh server ran ~35% faster than
    // later ones (measured: 12.1 s vs 17.5–22.3 s), which favoured whichever transport went first.
    const kinds = ["sse", "ws", "grpc"] as const;
    await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => one(kinds[i % 3] as TransportRun["transport"], server.url, grpcPort, cfg.modelName, `${nonce()} warm-up`)),
    );
    // Twice over: a round's wall time ends with its slowest stream, so one unlucky round moves a transport's tok/s.
    const order = ["sse", "ws", "grpc", "grpc", "ws", "sse", "sse", "ws", "grpc", "grpc", "ws", "sse"] as const;
    const wallS = new Map<string, number>();
    const tokens = new Map<string, number>();
    const ttfts = new Map<string, number[]>();
    for (const transport of order) {
      const t0 = performance.now();
      const samples = await Promise.all(
        Array.from({ length: STREAMS }, () => one(transport, server.url, grpcPort, cfg.modelName, `${nonce()} ${nonce()}: tell me more`)),
      );
      const roundS = (performance.now() - t0) / 1000;
      process.stderr.write(
        `[bench] transports: ${transport} round ${roundS.toFixed(1)} s, TTFT max ${Math.max(...samples.map((x) => x.ttftMs)).toFixed(0)} ms\n`,
      );
      wallS.set(transport, (wallS.get(transport) ?? 0) + roundS);
      tokens.set(transport, (tokens.get(transport) ?? 0) + samples.reduce((n, s) => n + s.tokens, 0));
      ttfts.set(transport, [...(ttfts.get(transport) ?? []), ...samples.map((s) => s.ttftMs)]);
    }
    const row = (t: TransportRun["transport"]) => ({ tps: (tokens.get(t) ?? 0) / (wallS.get(t) ?? 1), ttft: percentiles(ttfts.get(t) ?? []) });
    const sse = row("sse");
    // One request at a time, transports interleaved: at 64 streams TTFT is mostly the prefill queue of a burst.
    const alone = new Map<string, number[]>();
    for (let i = 0; i < 20; i++) {
      for (const t of kinds) alone.set(t, [...(alone.get(t) ?? []), (await one(t, server.url, grpcPort, cfg.modelName, `${nonce()} alone`)).ttftMs]);
    }
    return kinds.map((t) => {
      const r = row(t);
      return {
        transport: t,
        outputTokensPerSecond: r.tps,
        ttftMs: r.ttft,
        tokensPerSecondVsSse: r.tps / sse.tps,
        ttftP50VsSse: r.ttft.p50 / sse.ttft.p50,
        aloneTtftMs: percentiles(alone.get(t) ?? []),
      };
    });
  } finally {
    await server.stop();
  }
}

/** The bench server runs with --grpc-port 0 (a free port); /v1/status reports the one it bound. */
async function grpcPortOf(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/status`);
  const body = (await res.json()) as { grpcPort?: number };
  if (typeof body.grpcPort !== "number") throw new Error("the server does not report its gRPC port in /v1/status");
  return body.grpcPort;
}

function one(transport: TransportRun["transport"], url: string, grpcPort: number, model: string, content: string): Promise<Sample> {
  if (transport === "sse") return sse(url, model, content);
  if (transport === "ws") return ws(url, model, content);
  return grpc(grpcPort, model, content);
}

async function sse(url: string, model: string, content: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: [{ role: "user", content }],
      max_tokens: MAX_TOKENS,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  let first = 0;
  let tokens = 0;
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    // One read can carry several SSE frames (the role chunk and the first text): look at each frame.
    const frames = pending.split("\n\n");
    pending = frames.pop() ?? "";
    for (const frame of frames) {
      if (first === 0 && /"content":"[^"]/.test(frame)) first = performance.now();
      const m = /"completion_tokens":(\d+)/.exec(frame);
      if (m?.[1] !== undefined) tokens = Number(m[1]);
    }
  }
  return { ttftMs: (first || performance.now()) - t0, tokens };
}

function ws(url: string, model: string, content: string): Promise<Sample> {
  const t0 = performance.now();
  const sock = new WebSocket(`${url.replace("http", "ws")}/v1/realtime?model=${model}`);
  let first = 0;
  return new Promise((resolve, reject) => {
    sock.on("open", () => {
      sock.send(JSON.stringify({ type: "session.update", session: { temperature: 0, max_output_tokens: MAX_TOKENS, ignore_eos: true } }));
      sock.send(
        JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: content }] } }),
      );
      sock.send(JSON.stringify({ type: "response.create" }));
    });
    sock.on("message", (data) => {
      const e = JSON.parse(data.toString()) as { type: string; response?: { usage: { output_tokens: number } } };
      if (e.type === "response.output_text.delta" && first === 0) first = performance.now();
      if (e.type === "response.done") {
        sock.close();
        resolve({ ttftMs: first - t0, tokens: e.response?.usage.output_tokens ?? 0 });
      }
    });
    sock.on("error", reject);
  });
}

let grpcClient: Grpc | null = null;

function grpc(port: number, model: string, content: string): Promise<Sample> {
  if (grpcClient === null) {
    const pkg = loadPackageDefinition(loadGenerationProto()) as unknown as { loom: { v1: { Generation: new (a: string, c: unknown) => Grpc } } };
    grpcClient = new pkg.loom.v1.Generation(`127.0.0.1:${port}`, credentials.createInsecure());
  }
  const t0 = performance.now();
  let first = 0;
  let tokens = 0;
  const call = grpcClient.Chat({
    model,
    messages: [{ role: "user", content }],
    sampling: { temperature: 0 },
    stopping: { max_tokens: MAX_TOKENS, ignore_eos: true },
  });
  return new Promise((resolve, reject) => {
    call.on("data", (m: Record<string, unknown>) => {
      if (m["delta"] !== undefined && first === 0) first = performance.now();
      const f = m["finished"] as { usage: { completion_tokens: number } } | undefined;
      if (f) tokens = f.usage.completion_tokens;
    });
    call.on("end", () => resolve({ ttftMs: first - t0, tokens }));
    call.on("error", reject);
  });
}

function nonce(): string {
  return Math.random().toString(36).slice(2, 10);
}

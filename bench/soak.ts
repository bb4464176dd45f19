// `npm run bench:soak`: mixed traffic for LOOM_SOAK_MINUTES (30) on the tiny model — SSE and plain HTTP, Realtime
// WebSocket turns, gRPC streams, cancels and disconnects on every transport, bad inputs — then idle. Sampled every
// 15 s: server and engine-process RSS, the server's V8 heap, what holds its event loop (sockets, timers), KV cells
// and slots in use. Baseline: idle 15 s after a one-minute warm-up of the same traffic; "after": the lowest of six
// samples over a minute of idle after the soak (V8 returns memory lazily). Any 5xx or non-transport-shaped answer is
// counted as a failure. Writes bench/results/soak-<date>.json, soak-<date>.svg (the figures over time) and
// soak-latest.md. Env: LOOM_SOAK_MINUTES, LOOM_SOAK_CLIENTS (12).

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { credentials, loadPackageDefinition, type Client, type ClientReadableStream } from "@grpc/grpc-js";
import { ensureDefaultModel } from "../models/make-synthetic-model.js";
import { loadGenerationProto } from "../src/transport/grpc/grpc-server.js";
import { sleep } from "./load-generator.js";
import { startBenchServer } from "./server-process.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const MINUTES = Number(process.env.LOOM_SOAK_MINUTES ?? 30);
const CLIENTS = Number(process.env.LOOM_SOAK_CLIENTS ?? 12);
const MODEL = "tiny";
const SAMPLE_MS = 15_000;

type Gen = Client & { Generate: (req: Record<string, unknown>) => ClientReadableStream<Record<string, unknown>> };

interface Sample {
  readonly atS: number;
  readonly phase: "warm-up" | "baseline" | "soak" | "after";
  readonly serverRssMiB: number;
  readonly engineRssMiB: number;
  readonly heapUsedMiB: number;
  readonly resources: number;
  readonly kvCellsUsed: number;
  readonly slotsBusy: number;
  readonly inFlight: number;
}

interface StatusBody {
  readonly grpcPort: number | null;
  readonly mainThread: { pid: number; memory: { heapUsed: number }; activeResources: Record<string, number> };
  readonly models: readonly {
    workers: readonly { inFlight: number; host: { pid: number | null }; stats: { kvCellsUsed: number; slotsBusy: number } | null }[];
  }[];
}

const counts = new Map<string, number>();
const failures: string[] = [];
const count = (what: string): void => void counts.set(what, (counts.get(what) ?? 0) + 1);
const fail = (what: string): void => {
  count("failure");
  if (failures.length < 50) failures.push(what);
};

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) / 1024;
}

let seed = 20261202;
const rand = (): number => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

async function httpStream(url: string, cancel: boolean): Promise<void> {
  const ac = new AbortController();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `soak ${rand()}` }], max_tokens: 8 + Math.floor(rand() * 56), stream: true }),
    signal: ac.signal,
  });
  if (res.status >= 500) return fail(`sse ${res.status}`);
  try {
    let pending = "";
    for await (const chunk of res.body ?? []) {
      pending += String(Buffer.from(chunk as Uint8Array));
      const frames = pending.split("\n\n");
      pending = frames.pop() ?? "";
      // An error event is a frame whose JSON has a top-level `error` (generated text may well say "error").
      for (const f of frames) if (f.startsWith("data: {") && "error" in (JSON.parse(f.slice(6)) as object)) fail(`sse error event: ${f.slice(0, 200)}`);
      if (cancel && rand() < 0.3) {
        ac.abort();
        return count("sse cancelled");
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  count(`sse ${res.status}`);
}

async function httpPlain(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt: `soak ${rand()}`, max_tokens: 4 + Math.floor(rand() * 28), n: rand() < 0.2 ? 2 : 1 }),
  });
  await res.text();
  if (res.status >= 500) fail(`http ${res.status}`);
  count(`http ${res.status}`);
}

const BAD_BODIES = [
  '{"model":',
  "[]",
  '{"model":"tiny","messages":"x"}',
  '{"model":"nope","prompt":"x"}',
  '{"model":"tiny","prompt":"x","temperature":-3}',
  "\u0000\u0001",
];

async function badInput(url: string): Promise<void> {
  const path = pick(["/v1/chat/completions", "/v1/completions", "/v1/nothing", "/tokenize"]);
  const body = pick(BAD_BODIES);
  const res = await fetch(`${url}${path}`, { method: pick(["POST", "POST", "PUT"]), headers: { "content-type": "application/json" }, body });
  const text = await res.text();
  // /tokenize takes {model, prompt} and ignores sampling fields: the out-of-range temperature is a valid request there.
  const validThere = path === "/tokenize" && body.includes('"temperature":-3') && res.status === 200;
  if (!validThere && (res.status >= 500 || !text.includes('"error"'))) fail(`bad input answered ${res.status}: ${text.slice(0, 120)}`);
  count(validThere ? "bad (valid for /tokenize) 200" : `bad ${res.status}`);
}

function realtime(url: string, mode: "complete" | "cancel" | "drop"): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/realtime?model=${MODEL}`);
    const done = (what: string): void => {
      count(what);
      ws.close();
      resolve();
    };
    ws.on("error", () => done("ws error"));
    ws.on("open", () => {
      ws.send(JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "soak" }] } }));
      ws.send(JSON.stringify({ type: "response.create", response: { max_output_tokens: 8 + Math.floor(rand() * 40) } }));
    });
    ws.on("message", (data) => {
      const e = JSON.parse(String(data)) as { type: string; response?: { status: string } };
      if (e.type === "error") fail(`ws error event ${String(data).slice(0, 160)}`);
      if (e.type === "response.output_text.delta" && mode === "cancel") ws.send(JSON.stringify({ type: "response.cancel" }));
      if (e.type === "response.output_text.delta" && mode === "drop") {
        ws.terminate();
        return done("ws dropped");
      }
      if (e.type === "response.done") {
        if (e.response?.status === "failed") fail(`ws failed ${String(data).slice(0, 160)}`);
        done(`ws ${e.response?.status ?? "?"}`);
      }
    });
  });
}

function grpcStream(client: Gen, cancel: boolean): Promise<void> {
  return new Promise((resolve) => {
    const call = client.Generate({ model: MODEL, text: `soak ${rand()}`, stopping: { max_tokens: 8 + Math.floor(rand() * 40) } });
    let n = 0;
    call.on("data", () => {
      if (cancel && ++n === 2) call.cancel();
    });
    call.on("error", (e: { code: number }) => {
      if (e.code !== 1) fail(`grpc status ${e.code}`);
      count(e.code === 1 ? "grpc cancelled" : "grpc error");
      resolve();
    });
    call.on("end", () => {
      count("grpc ok");
      resolve();
    });
  });
}

async function client(url: string, grpc: Gen, until: () => boolean): Promise<void> {
  while (!until()) {
    const r = rand();
    try {
      if (r < 0.25) await httpStream(url, false);
      else if (r < 0.35) await httpStream(url, true);
      else if (r < 0.5) await httpPlain(url);
      else if (r < 0.6) await badInput(url);
      else if (r < 0.75) await realtime(url, pick(["complete", "complete", "cancel", "drop"] as const));
      else await grpcStream(grpc, rand() < 0.3);
    } catch (err) {
      fail(`client: ${String(err)}`);
    }
  }
}

async function sample(url: string, startedAt: number, phase: Sample["phase"]): Promise<Sample> {
  const s = (await (await fetch(`${url}/v1/status`)).json()) as StatusBody;
  const workers = s.models.flatMap((m) => m.workers);
  return {
    atS: (performance.now() - startedAt) / 1000,
    phase,
    serverRssMiB: rssMiB(s.mainThread.pid),
    engineRssMiB: workers.reduce((n, w) => n + (w.host.pid === null || w.host.pid === s.mainThread.pid ? 0 : rssMiB(w.host.pid)), 0),
    heapUsedMiB: s.mainThread.memory.heapUsed / 2 ** 20,
    resources: Object.values(s.mainThread.activeResources).reduce((a, b) => a + b, 0),
    kvCellsUsed: workers.reduce((n, w) => n + (w.stats?.kvCellsUsed ?? 0), 0),
    slotsBusy: workers.reduce((n, w) => n + (w.stats?.slotsBusy ?? 0), 0),
    inFlight: workers.reduce((n, w) => n + w.inFlight, 0),
  };
}

async function traffic(url: string, grpc: Gen, ms: number, samples: Sample[], startedAt: number, phase: Sample["phase"]): Promise<void> {
  const end = performance.now() + ms;
  const until = (): boolean => performance.now() >= end;
  const sampler = (async () => {
    while (!until()) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
      if (!until()) samples.push(await sample(url, startedAt, phase));
    }
  })();
  await Promise.all([...Array.from({ length: CLIENTS }, () => client(url, grpc, until)), sampler]);
}

function svg(samples: readonly Sample[]): string {
  const W = 900;
  const H = 360;
  const pad = 50;
  const maxT = Math.max(...samples.map((s) => s.atS), 1);
  const series: { name: string; color: string; value: (s: Sample) => number }[] = [
    { name: "server RSS MiB", color: "#1f77b4", value: (s) => s.serverRssMiB },
    { name: "engine process RSS MiB", color: "#d62728", value: (s) => s.engineRssMiB },
    { name: "server V8 heap used MiB", color: "#2ca02c", value: (s) => s.heapUsedMiB },
    { name: "event-loop resources", color: "#9467bd", value: (s) => s.resources },
  ];
  const maxV = Math.max(...samples.flatMap((s) => series.map((x) => x.value(s))), 1) * 1.1;
  const x = (t: number): number => pad + ((W - 2 * pad) * t) / maxT;
  const y = (v: number): number => H - pad - ((H - 2 * pad) * v) / maxV;
  const lines = series.map(
    (sr) =>
      `<polyline fill="none" stroke="${sr.color}" stroke-width="2" points="${samples.map((s) => `${x(s.atS).toFixed(1)},${y(sr.value(s)).toFixed(1)}`).join(" ")}"/>`,
  );
  const legend = series.map((sr, i) => `<text x="${pad + 10}" y="${pad + 16 * i}" fill="${sr.color}" font-size="12">${sr.name}</text>`);
  const axis = [0, 0.25, 0.5, 0.75, 1].map(
    (f) => `<text x="${x(maxT * f)}" y="${H - pad + 16}" font-size="11" text-anchor="middle">${((maxT * f) / 60).toFixed(1)} min</text>`,
  );
  const vAxis = [0, 0.5, 1].map((f) => `<text x="${pad - 6}" y="${y(maxV * f)}" font-size="11" text-anchor="end">${(maxV * f).toFixed(0)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="white"/><line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#999"/>${lines.join("")}${legend.join("")}${axis.join("")}${vAxis.join("")}</svg>\n`;
}

async function main(): Promise<void> {
  const model = await ensureDefaultModel();
  const server = await startBenchServer(["--model", `${MODEL}=${model}`, "--grpc-port", "0", "--threads", "1", "--threads-batch", "2"]);
  const startedAt = performance.now();
  const samples: Sample[] = [];
  try {
    const cold = await sample(server.url, startedAt, "baseline");
    const port = ((await (await fetch(`${server.url}/v1/status`)).json()) as StatusBody).grpcPort as number;
    const pkg = loadPackageDefinition(loadGenerationProto()) as unknown as { loom: { v1: { Generation: new (a: string, c: unknown) => Gen } } };
    const grpc = new pkg.loom.v1.Generation(`127.0.0.1:${port}`, credentials.createInsecure());
    await traffic(server.url, grpc, 60_000, samples, startedAt, "warm-up");
    await sleep(15_000);
    const baseline = await sample(server.url, startedAt, "baseline");
    samples.push(baseline);
    await traffic(server.url, grpc, MINUTES * 60_000, samples, startedAt, "soak");
    // Idle: V8 collects and returns memory lazily once allocation stops, so "after" is the lowest of a minute's samples.
    const idle: Sample[] = [];
    for (let i = 0; i < 6; i++) {
      await sleep(10_000);
      idle.push(await sample(server.url, startedAt, "after"));
    }
    samples.push(...idle);
    const after = idle.reduce((a, b) => (b.serverRssMiB + b.engineRssMiB < a.serverRssMiB + a.engineRssMiB ? b : a));
    grpc.close();
    const when = new Date().toISOString().replace(/[:.]/g, "-");
    const row = (name: string, f: (s: Sample) => number, digits = 1): string =>
      `| ${name} | ${f(cold).toFixed(digits)} | ${f(baseline).toFixed(digits)} | ${Math.max(...samples.filter((s) => s.phase === "soak").map(f)).toFixed(digits)} | ${f(after).toFixed(digits)} |`;
    const report = [
      `# Soak: ${MINUTES} min of mixed traffic (${when}, ${cpus()[0]?.model ?? "cpu"} × ${cpus().length})`,
      "",
      `${CLIENTS} clients back to back: SSE (a third cancelled mid-stream), plain HTTP (some n=2), bad inputs, Realtime turns (completed, cancelled, socket dropped), gRPC streams (some cancelled). tiny model, engine process.`,
      "",
      `| figure | cold start | baseline (after 1 min warm-up, idle 15 s) | soak peak | after (lowest of 6 samples in 60 s idle) |`,
      `|---|---|---|---|---|`,
      row("server RSS MiB", (s) => s.serverRssMiB),
      row("engine process RSS MiB", (s) => s.engineRssMiB),
      row("server V8 heap used MiB", (s) => s.heapUsedMiB),
      row("event-loop resources (sockets, timers, …)", (s) => s.resources, 0),
      row("KV cells used", (s) => s.kvCellsUsed, 0),
      row("slots busy", (s) => s.slotsBusy, 0),
      row("requests in flight", (s) => s.inFlight, 0),
      "",
      `Outcomes: ${[...counts.entries()]
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}.`,
      failures.length === 0 ? "Failures: none." : `Failures (first ${failures.length}): ${failures.join("; ")}`,
      "",
      `![soak](soak-${when}.svg)`,
      "",
    ].join("\n");
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      join(RESULTS, `soak-${when}.json`),
      JSON.stringify({ when, minutes: MINUTES, clients: CLIENTS, counts: Object.fromEntries(counts), failures, cold, baseline, after, samples }, null, 2),
    );
    writeFileSync(join(RESULTS, `soak-${when}.svg`), svg(samples));
    writeFileSync(join(RESULTS, "soak-latest.md"), report.replace(`soak-${when}.svg`, `soak-${when}.svg`));
    process.stdout.write(report);
  } finally {
    await server.stop();
  }
}

await main();

// The benchmark report: the JSON shape written to bench/results/ and its markdown summary.

import type { BenchConfig } from "./bench-config.js";
import type { Percentiles } from "./load-generator.js";
import type { ChunkedPrefillResult } from "./scenarios/chunked-prefill.js";
import type { HttpOverheadRun } from "./scenarios/http-overhead.js";
import type { InvarianceResult } from "./scenarios/batch-invariance.js";
import type { TransportRun } from "./scenarios/transports.js";
import { median, type SingleStreamResult } from "./scenarios/single-stream.js";
import type { ThroughputResult } from "./scenarios/throughput.js";

export interface BenchReport {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpu: string; readonly node: string };
  readonly config: BenchConfig & { readonly serverEnv?: Readonly<Record<string, string | undefined>> };
  readonly throughput?: ThroughputResult;
  readonly singleStream?: SingleStreamResult;
  readonly chunkedPrefill?: ChunkedPrefillResult;
  readonly httpOverhead?: readonly HttpOverheadRun[];
  readonly batchInvariance?: readonly InvarianceResult[];
  readonly transports?: readonly TransportRun[];
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pc = (p: Percentiles): string => `${f(p.p50, 0)} / ${f(p.p99, 0)}`;

export function renderSummary(r: BenchReport): string {
  const out = [
    `### Bench results (${r.date.slice(0, 10)}, ${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node})`,
    "",
    `Model: \`${r.config.modelName}\` (${r.config.modelPath.split("/").pop()}), threads ${r.config.threads} (single-token steps) / ${r.config.threadsBatch} (batched steps).`,
    "",
  ];
  if (r.throughput) out.push(...throughputTable(r.throughput));
  if (r.singleStream) out.push(...singleStreamLines(r.singleStream));
  if (r.chunkedPrefill) out.push(...prefillTable(r.chunkedPrefill));
  if (r.httpOverhead) out.push(...httpTable(r.httpOverhead));
  if (r.batchInvariance) out.push(...invarianceLines(r.batchInvariance));
  if (r.transports) out.push(...transportTable(r.transports));
  return `${out.join("\n")}\n`;
}

function throughputTable(t: ThroughputResult): string[] {
  const rows = t.runs.map((x) => `| ${x.concurrency} | ${x.requests} | ${f(x.outputTokensPerSecond)} | ${pc(x.ttftMs)} | ${pc(x.itlMs)} | ${pc(x.e2eMs)} |`);
  return [
    "**Throughput** (prompt 128, output 128, greedy, EOS ignored; c64 runs on 64 slots):",
    "",
    "| concurrency | requests | output tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | e2e p50 / p99 ms |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    `Aggregate tok/s at concurrency 16 ÷ concurrency 1: **${f(t.ratioC16toC1, 2)}×**. Main-thread event-loop delay with 64 streams: p50 ${f(t.lag64.p50, 1)} ms, **p99 ${f(t.lag64.p99, 1)} ms**, max ${f(t.lag64.max, 1)} ms.`,
    "",
  ];
}

function singleStreamLines(s: SingleStreamResult): string[] {
  return [
    `**Single stream vs a direct node-llama-cpp loop** (same binary, threads and context; decode tok/s, median of ${s.loomTokensPerSecond.length} alternating rounds): Loom ${f(median(s.loomTokensPerSecond))}, direct ${f(median(s.directTokensPerSecond))}, ratio **${f(s.ratio, 3)}**.`,
    "",
  ];
}

function prefillTable(c: ChunkedPrefillResult): string[] {
  const row = (x: ChunkedPrefillResult["chunked"]): string =>
    `| ${x.itlTarget} | ${pc(x.shortTtftMs)} | ${pc(x.longTtftMs)} | ${pc(x.runningItlUnloadedMs)} | ${pc(x.runningItlLoadedMs)} |`;
  return [
    "**Long prompts arriving while 4 streams decode** (8 × 2,000-token prompts at once, 8 × 64-token prompts arriving every 400 ms):",
    "",
    "| --itl-target | short TTFT p50 / p99 ms | long TTFT p50 / p99 ms | running ITL unloaded p50 / p99 ms | running ITL during prefill p50 / p99 ms |",
    "|---|---|---|---|---|",
    row(c.chunked),
    row(c.unchunked),
    "",
    `Short-request TTFT p99, default ÷ no target: **${f(c.shortTtftP99Ratio, 3)}**. Running streams' ITL p99 during prefill ÷ unloaded (default): **${f(c.itlP99LoadedOverUnloaded, 2)}×**.`,
    "",
  ];
}

function httpTable(h: readonly HttpOverheadRun[]): string[] {
  return [
    "**HTTP path overhead** (autocannon):",
    "",
    "| request | req/s | latency p50 / p99 ms | errors | non-2xx |",
    "|---|---|---|---|---|",
    ...h.map((x) => `| ${x.label} | ${f(x.requestsPerSecond, 0)} | ${f(x.latencyP50Ms, 1)} / ${f(x.latencyP99Ms, 1)} | ${x.errors} | ${x.non2xx} |`),
    "",
  ];
}

function invarianceLines(rs: readonly InvarianceResult[]): string[] {
  return [
    "**Batch composition** (each probe alone, then sharing steps with 7 other requests; 64 tokens):",
    "",
    ...rs.map(
      (x) =>
        `- ${x.mode}: ${x.identical}/${x.probes} identical${x.divergedAtChars.length > 0 ? `; the others diverged after ${x.divergedAtChars.join(", ")} characters` : ""}.`,
    ),
    "",
  ];
}

function transportTable(rs: readonly TransportRun[]): string[] {
  return [
    "**Transports** (64 concurrent chat streams, 64 output tokens each, one transport at a time, 64 slots):",
    "",
    "| transport | output tok/s | TTFT p50 / p99 ms | tok/s ÷ SSE | TTFT p50 ÷ SSE | one request at a time: TTFT p50 / p99 ms |",
    "|---|---|---|---|---|---|",
    ...rs.map(
      (x) =>
        `| ${x.transport} | ${f(x.outputTokensPerSecond)} | ${pc(x.ttftMs)} | ${f(x.tokensPerSecondVsSse, 2)} | ${f(x.ttftP50VsSse, 2)} | ${x.aloneTtftMs ? `${f(x.aloneTtftMs.p50, 1)} / ${f(x.aloneTtftMs.p99, 1)}` : "–"} |`,
    ),
    "",
  ];
}

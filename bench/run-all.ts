// `npm run bench`: every scenario on the bench model in one run with one thread setting, JSON to bench/results/
// and a markdown summary (the README quotes it). Scenarios: LOOM_BENCH_ONLY=throughput,single,prefill,http,invariance.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchConfig } from "./bench-config.js";
import { renderSummary, type BenchReport } from "./report.js";
import { runBatchInvariance } from "./scenarios/batch-invariance.js";
import { runChunkedPrefill } from "./scenarios/chunked-prefill.js";
import { runHttpOverhead } from "./scenarios/http-overhead.js";
import { runSingleStream } from "./scenarios/single-stream.js";
import { runThroughput } from "./scenarios/throughput.js";
import { runTransports } from "./scenarios/transports.js";
import { makeSyntheticModel } from "../models/make-synthetic-model.js";
import { cpus } from "node:os";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));

async function main(): Promise<void> {
  const cfg = benchConfig();
  if (!existsSync(cfg.modelPath)) await makeSyntheticModel({ preset: "bench", outPath: cfg.modelPath });
  const only = new Set((process.env.LOOM_BENCH_ONLY ?? "throughput,single,prefill,http,invariance,transports").split(","));
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version },
    config: { ...cfg, serverEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("LOOM_"))) },
    ...(only.has("throughput") ? { throughput: await step("throughput", () => runThroughput(cfg)) } : {}),
    ...(only.has("single") ? { singleStream: await step("single-stream", () => runSingleStream(cfg)) } : {}),
    ...(only.has("prefill") ? { chunkedPrefill: await step("chunked-prefill", () => runChunkedPrefill(cfg)) } : {}),
    ...(only.has("http") ? { httpOverhead: await step("http-overhead", () => runHttpOverhead(cfg)) } : {}),
    ...(only.has("invariance") ? { batchInvariance: await step("batch-invariance", () => runBatchInvariance(cfg)) } : {}),
    ...(only.has("transports") ? { transports: await step("transports", () => runTransports(cfg)) } : {}),
  };
  mkdirSync(RESULTS, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  writeFileSync(`${RESULTS}${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const summary = renderSummary(report);
  // A partial run (LOOM_BENCH_ONLY) must not replace the summary of the last full run, which the README quotes.
  const summaryFile = process.env.LOOM_BENCH_ONLY === undefined ? "latest.md" : "latest-partial.md";
  writeFileSync(`${RESULTS}${summaryFile}`, summary);
  process.stdout.write(`\n${summary}\nwrote bench/results/${stamp}.json and bench/results/${summaryFile}\n`);
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  process.stderr.write(`[bench] ${name}…\n`);
  const t0 = performance.now();
  const r = await fn();
  process.stderr.write(`[bench] ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return r;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

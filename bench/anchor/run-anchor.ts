// `npm run bench:anchor`: Loom vs llama.cpp's llama-server side by side on the same model file, threads, slots and
// context, one server at a time. Builds llama-server first if bench/anchor/.cache lacks it. Workloads: prompts of
// 128 and 1,024 tokens × concurrency 1, 4, 16 (128 output tokens, greedy, EOS ignored) and a mixed workload.
// Env: LOOM_ANCHOR_LEVELS=1,4,16[,64]  LOOM_ANCHOR_PROMPTS=128,1024  LOOM_ANCHOR_ENGINES=llama-server,loom
// LOOM_ANCHOR_MIXED=0 (skip mixed); threads and model from bench-config (LOOM_BENCH_THREADS, …).
// Writes bench/results/anchor-<date>.json, bench/results/anchor-latest.md and anchor-latest.svg.
// `node dist/bench/anchor/run-anchor.js --render <json>` re-renders the markdown and SVG from a saved JSON.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { benchConfig, serverFlags, type BenchConfig } from "../bench-config.js";
import { startBenchServer, warmUp, type BenchServer } from "../server-process.js";
import { renderAnchor, type AnchorReport, type CellResult, type Engine, type EngineRun } from "./anchor-report.js";
import { renderAnchorSvg } from "./anchor-svg.js";
import { CACHE_DIR, ensureLlamaServer } from "./build-llama-server.js";
import { llamaServerArgs, missingFlags, startLlamaServer, type LlamaServerOptions } from "./llama-server-process.js";
import { probeStream, runCell, runMixed, type MatrixCell, type Target } from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const PARALLEL = 16;
/** 2,048 cells per slot: a 2,000-token prompt (mixed) or 1,024 + 128 fits in one slot. */
const CTX_SIZE = PARALLEL * 2048;
const OUTPUT_TOKENS = 128;

const list = (env: string | undefined, dflt: string): string[] => (env ?? dflt).split(",").map((s) => s.trim()).filter((s) => s !== "");

function requestsPerClient(prompt: number, c: number): number {
  if (c === 1) return 3;
  if (c <= 4) return 2;
  return prompt >= 1024 || c >= 64 ? 1 : 2;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--render" && process.argv[3] !== undefined) {
    writeOutputs(JSON.parse(readFileSync(process.argv[3], "utf8")) as AnchorReport, false);
    return;
  }
  const cfg = benchConfig();
  if (!existsSync(cfg.modelPath)) await makeSyntheticModel({ preset: "bench", outPath: cfg.modelPath });
  const build = await ensureLlamaServer();
  const missing = missingFlags(build.binary);
  if (missing.length > 0) throw new Error(`llama-server at this version lacks flags: ${missing.join(" ")}`);
  const commit = spawnSync("git", ["-C", `${CACHE_DIR}/src`, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim() || "unknown";

  const levels = list(process.env.LOOM_ANCHOR_LEVELS, "1,4,16").map(Number);
  const prompts = list(process.env.LOOM_ANCHOR_PROMPTS, "128,1024").map(Number);
  const engines = list(process.env.LOOM_ANCHOR_ENGINES, "llama-server,loom");
  const mixed = process.env.LOOM_ANCHOR_MIXED !== "0";
  const cells: MatrixCell[] = prompts.flatMap((p) => levels.map((c) => ({ promptTokens: p, maxTokens: OUTPUT_TOKENS, concurrency: c, requestsPerClient: requestsPerClient(p, c) })));

  const lsOpts: LlamaServerOptions = { binary: build.binary, modelPath: cfg.modelPath, threads: cfg.threads, threadsBatch: cfg.threadsBatch, parallel: PARALLEL, ctxSize: CTX_SIZE };
  const loomFlags = serverFlags(cfg, ["--parallel", String(PARALLEL), "--ctx-size", String(CTX_SIZE)]);
  const runs: Partial<Record<Engine, EngineRun>> = {};
  for (const name of engines) {
    if (name === "llama-server") {
      runs.llamaServer = await runEngine("llama-server", () => startLlamaServer(lsOpts), `llama-server ${llamaServerArgs(lsOpts, 0).join(" ")}`, cfg, cells, mixed);
    } else if (name === "loom") {
      runs.loom = await runEngine("loom", () => startBenchServer(loomFlags), `loom serve ${loomFlags.join(" ")}`, cfg, cells, mixed);
    } else {
      throw new Error(`unknown engine ${name} (want llama-server or loom)`);
    }
  }

  const report: AnchorReport = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version },
    model: cfg.modelPath,
    threads: cfg.threads,
    threadsBatch: cfg.threadsBatch,
    parallel: PARALLEL,
    ctxSize: CTX_SIZE,
    llamaServer: { binary: build.binary, commit, buildSeconds: build.buildSeconds, cached: build.cached },
    engines: runs,
  };
  writeOutputs(report, true);
}

function writeOutputs(report: AnchorReport, withJson: boolean): void {
  mkdirSync(RESULTS, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  if (withJson) writeFileSync(`${RESULTS}anchor-${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = renderAnchor(report);
  writeFileSync(`${RESULTS}anchor-latest.md`, md);
  writeFileSync(`${RESULTS}anchor-latest.svg`, renderAnchorSvg(report));
  process.stdout.write(`\n${md}\nwrote ${withJson ? `bench/results/anchor-${stamp}.json, ` : ""}bench/results/anchor-latest.md and anchor-latest.svg\n`);
}

async function runEngine(name: string, start: () => Promise<BenchServer>, command: string, cfg: BenchConfig, cells: readonly MatrixCell[], mixed: boolean): Promise<EngineRun> {
  log(`${name}: starting (${command})`);
  const loadBefore = loadavg()[0] ?? NaN;
  const server = await start();
  const target: Target = { url: server.url, model: cfg.modelName };
  try {
    await warmUp(server.url, cfg.modelName);
    const probe = await probeStream(target);
    log(`${name}: stream probe ${probe.ok ? "ok" : "MISMATCH"} ${JSON.stringify(probe)}`);
    const results: CellResult[] = [];
    for (const cell of cells) {
      const t0 = performance.now();
      const { samples: _s, ...r } = await runCell(target, cell);
      results.push({ ...r, promptTokens: cell.promptTokens, maxTokens: cell.maxTokens });
      log(`${name}: prompt ${cell.promptTokens} c${cell.concurrency}: ${r.outputTokensPerSecond.toFixed(1)} tok/s, TTFT p50 ${r.ttftMs.p50.toFixed(0)} ms, ITL p50 ${r.itlMs.p50.toFixed(1)} ms (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    let mixedResult: EngineRun["mixed"];
    if (mixed) {
      mixedResult = await runMixed(target);
      log(`${name}: mixed: long TTFT p50 ${mixedResult.longTtftMs.p50.toFixed(0)} ms, running ITL p99 ${mixedResult.runningItlUnloadedMs.p99.toFixed(0)} → ${mixedResult.runningItlLoadedMs.p99.toFixed(0)} ms`);
    }
    return { probe, cells: results, command, loadAvg: [loadBefore, loadavg()[0] ?? NaN], ...(mixedResult ? { mixed: mixedResult } : {}) };
  } finally {
    await server.stop();
    log(`${name}: stopped`);
  }
}

function log(line: string): void {
  process.stderr.write(`[anchor] ${line}\n`);
}

main().catch((err: unknown) => {
  const cause = err instanceof Error && err.cause !== undefined ? `\ncause: ${String(err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : err.cause)}` : "";
  process.stderr.write(`bench:anchor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${cause}\n`);
  process.exitCode = 1;
});

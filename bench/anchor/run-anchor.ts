// `npm run bench:anchor`: Loom vs llama.cpp's llama-server side by side on the same model file, threads, slots and
// context, one server at a time. Builds llama-server first if bench/anchor/.cache lacks it. Loom runs twice: `loom`
// with `--native-build auto` (the native/ build from `npm run build:native`, as llama-server is built for
// this host) and `loom-prebuilt` with `--native-build never` (node-llama-cpp's prebuilt binary); the report records
// the binary each Loom server actually loaded. Workloads: prompts of 128 and 1,024 tokens × concurrency 1, 4, 16, 64
// (128 output tokens, greedy, EOS ignored), a mixed workload and varied traffic (8 and 16 clients).
// Env: LOOM_ANCHOR_LEVELS=1,4,16,64  LOOM_ANCHOR_PROMPTS=128,1024  LOOM_ANCHOR_ENGINES=llama-server,loom,loom-prebuilt
// LOOM_ANCHOR_MIXED=0 (skip mixed) LOOM_ANCHOR_VARIED=8,16 (clients; empty: skip); threads and model from bench-config.
// Writes bench/results/anchor-<date>.json, bench/results/anchor-latest.md and anchor-latest.svg.
// `node dist/bench/anchor/run-anchor.js --render <json>` re-renders the markdown and SVG from a saved JSON.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { benchConfig, serverFlags, type BenchConfig } from "../bench-config.js";
import { startBenchServer, warmUp, type BenchServer } from "../server-process.js";
import { renderAnchor, type AnchorReport, type CellResult, type Engine, type EngineRun, type LoomBinary } from "./anchor-report.js";
import { renderAnchorSvg } from "./anchor-svg.js";
import { CACHE_DIR, ensureLlamaServer } from "./build-llama-server.js";
import { setFetchTimeouts } from "./fetch-timeouts.js";
import { loomBinary } from "./loom-binary.js";
import { llamaServerArgs, missingFlags, startLlamaServer } from "./llama-server-process.js";
import {
  anchorLlamaServer,
  CTX_SIZE,
  PARALLEL,
  probeStream,
  runCell,
  runMixed,
  runVaried,
  type MatrixCell,
  type Target,
  type VariedResult,
} from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const OUTPUT_TOKENS = 128;

const list = (env: string | undefined, dflt: string): string[] =>
  (env ?? dflt)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/** Enough requests for percentiles at low concurrency; one per client from 64 clients (a 64-request burst). */
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
  const levels = list(process.env.LOOM_ANCHOR_LEVELS, "1,4,16,64").map(Number);
  const prompts = list(process.env.LOOM_ANCHOR_PROMPTS, "128,1024").map(Number);
  const engines = list(process.env.LOOM_ANCHOR_ENGINES, "llama-server,loom,loom-prebuilt");
  const unknown = engines.filter((e) => !["llama-server", "loom", "loom-prebuilt"].includes(e));
  if (unknown.length > 0) throw new Error(`unknown engine ${unknown.join(", ")} (want llama-server, loom or loom-prebuilt)`);
  if (engines.includes("loom") && !hasLocalBuild()) {
    log("WARNING: no native build found (`npm run build:native`); the `loom` run will load the prebuilt binary and be labelled so");
  }
  const cfg = benchConfig();
  if (!existsSync(cfg.modelPath)) await makeSyntheticModel({ preset: "bench", outPath: cfg.modelPath });
  const build = await ensureLlamaServer(cfg.modelPath);
  const missing = missingFlags(build.binary);
  if (missing.length > 0) throw new Error(`llama-server at this version lacks flags: ${missing.join(" ")}`);
  const commit = spawnSync("git", ["-C", `${CACHE_DIR}/src`, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim() || "unknown";

  // At 64 clients a queued request may wait past fetch's default 300 s for its first byte: let the servers decide.
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const mixed = process.env.LOOM_ANCHOR_MIXED !== "0";
  const varied = list(process.env.LOOM_ANCHOR_VARIED, "8,16").map(Number);
  const cells: MatrixCell[] = prompts.flatMap((p) =>
    levels.map((c) => ({ promptTokens: p, maxTokens: OUTPUT_TOKENS, concurrency: c, requestsPerClient: requestsPerClient(p, c) })),
  );

  const lsOpts = anchorLlamaServer(build.binary, cfg);
  const loomFlags = (nativeBuild: LoomBinary["nativeBuild"]): string[] =>
    serverFlags(cfg, ["--parallel", String(PARALLEL), "--ctx-size", String(CTX_SIZE), "--native-build", nativeBuild]);
  const runs: Partial<Record<Engine, EngineRun>> = {};
  for (const name of engines) {
    if (name === "llama-server") {
      runs.llamaServer = await runEngine(
        "llama-server",
        () => startLlamaServer(lsOpts),
        `llama-server ${llamaServerArgs(lsOpts, 0).join(" ")}`,
        cfg,
        { cells, mixed, varied },
        null,
      );
    } else {
      const mode = name === "loom" ? "auto" : "never";
      const flags = loomFlags(mode);
      runs[name === "loom" ? "loom" : "loomPrebuilt"] = await runEngine(
        name,
        () => startBenchServer(flags),
        `loom serve ${flags.join(" ")}`,
        cfg,
        { cells, mixed, varied },
        mode,
      );
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
    llamaServer: { binary: build.binary, commit, buildSeconds: build.buildSeconds, cached: build.cached, description: build.description },
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

async function runEngine(
  name: string,
  start: () => Promise<BenchServer>,
  command: string,
  cfg: BenchConfig,
  work: { readonly cells: readonly MatrixCell[]; readonly mixed: boolean; readonly varied: readonly number[] },
  nativeBuild: LoomBinary["nativeBuild"] | null,
): Promise<EngineRun> {
  log(`${name}: starting (${command})`);
  const loadBefore = loadavg()[0] ?? NaN;
  const server = await start();
  const target: Target = { url: server.url, model: cfg.modelName };
  try {
    const binary = nativeBuild === null ? null : await loomBinary(server.url, server.process.pid, nativeBuild);
    if (binary !== null) {
      log(
        `${name}: llama.cpp binary ${binary.buildType} (${binary.source}: ${binary.addon ?? "no addon found"}${binary.backends.length > 0 ? `, ${binary.backends.join(", ")}` : ""})`,
      );
      if (nativeBuild === "auto" && binary.buildType !== "localBuild")
        log(`${name}: WARNING: no native build in use (run \`npm run build:native\` first); the report labels this run "${binary.buildType}"`);
    }
    await warmUp(server.url, cfg.modelName);
    const probe = await probeStream(target);
    log(`${name}: stream probe ${probe.ok ? "ok" : "MISMATCH"} ${JSON.stringify(probe)}`);
    const results: CellResult[] = [];
    for (const cell of work.cells) {
      const t0 = performance.now();
      const { samples: _s, ...r } = await runCell(target, cell);
      results.push({ ...r, promptTokens: cell.promptTokens, maxTokens: cell.maxTokens });
      log(
        `${name}: prompt ${cell.promptTokens} c${cell.concurrency}: ${r.outputTokensPerSecond.toFixed(1)} tok/s, TTFT p50 ${r.ttftMs.p50.toFixed(0)} ms, ITL p50 ${r.itlMs.p50.toFixed(1)} ms (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
    }
    let mixedResult: EngineRun["mixed"];
    if (work.mixed) {
      mixedResult = await runMixed(target);
      log(
        `${name}: mixed: long TTFT p50 ${mixedResult.longTtftMs.p50.toFixed(0)} ms, running ITL p99 ${mixedResult.runningItlUnloadedMs.p99.toFixed(0)} → ${mixedResult.runningItlLoadedMs.p99.toFixed(0)} ms`,
      );
    }
    const variedResults: VariedResult[] = [];
    for (const clients of work.varied) {
      const v = await runVaried(target, clients);
      variedResults.push(v);
      log(
        `${name}: varied c${clients}: ${v.outputTokensPerSecond.toFixed(1)} tok/s, TTFT p50 ${v.ttftMs.p50.toFixed(0)} ms, ITL p50 ${v.itlMs.p50.toFixed(1)} ms`,
      );
    }
    return {
      probe,
      cells: results,
      command,
      loadAvg: [loadBefore, loadavg()[0] ?? NaN],
      ...(mixedResult ? { mixed: mixedResult } : {}),
      ...(variedResults.length > 0 ? { varied: variedResults } : {}),
      ...(binary ? { binary } : {}),
    };
  } finally {
    await server.stop();
    log(`${name}: stopped`);
  }
}

/** A quick look for the native/ build before the run; the report records what each server really loaded. */
function hasLocalBuild(): boolean {
  const dir = fileURLToPath(new URL("../../../node_modules/node-llama-cpp/llama/localBuilds/", import.meta.url));
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((d) => existsSync(`${dir}${d}/Release/llama-addon.node`));
}

function log(line: string): void {
  process.stderr.write(`[anchor] ${line}\n`);
}

main().catch((err: unknown) => {
  const cause =
    err instanceof Error && err.cause !== undefined
      ? `\ncause: ${String(err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : err.cause)}`
      : "";
  process.stderr.write(`bench:anchor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${cause}\n`);
  process.exitCode = 1;
});

// `npm run bench:frontier`: Loom's latency/throughput frontier on the anchor's mixed workload (8 streams decoding
// while 2,000-token prompts arrive, one a second): one fresh Loom server (the binary `npm start` picks) per
// --itl-target, and llama-server once, same model, threads, slots and context as `npm run bench:anchor`. Reports the
// running streams' ITL p99 while the long prompts prefill against the long prompts' TTFT p50.
// Env: LOOM_FRONTIER_TARGETS=50,100,250,500,1000  LOOM_FRONTIER_ANCHOR=0 (skip llama-server).
// Writes bench/results/frontier-<date>.json, frontier-latest.md and frontier-latest.svg;
// `node dist/bench/anchor/run-frontier.js --render <json>` re-renders the last two from a saved JSON.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { benchConfig, serverFlags } from "../bench-config.js";
import { startBenchServer, warmUp, type BenchServer } from "../server-process.js";
import { ensureLlamaServer } from "./build-llama-server.js";
import { setFetchTimeouts } from "./fetch-timeouts.js";
import { renderFrontierSvg, type FrontierPoint } from "./frontier-svg.js";
import { startLlamaServer } from "./llama-server-process.js";
import { anchorLlamaServer, CTX_SIZE, PARALLEL, runMixed, type MixedResult } from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));

interface FrontierReport {
  readonly date: string;
  readonly machine: string;
  readonly llamaServer: string | null;
  readonly loom: readonly { readonly itlTargetMs: number; readonly mixed: MixedResult }[];
  readonly anchor: MixedResult | null;
}

async function measure(start: () => Promise<BenchServer>, model: string): Promise<MixedResult> {
  const server = await start();
  try {
    await warmUp(server.url, model);
    return await runMixed({ url: server.url, model });
  } finally {
    await server.stop();
  }
}

function point(label: string, m: MixedResult): FrontierPoint {
  return { label, itlP99Ms: m.runningItlLoadedMs.p99, longTtftP50Ms: m.longTtftMs.p50 };
}

function markdown(r: FrontierReport): string {
  const row = (name: string, m: MixedResult): string =>
    `| ${name} | ${m.runningItlLoadedMs.p50.toFixed(0)} / ${m.runningItlLoadedMs.p99.toFixed(0)} | ${m.longTtftMs.p50.toFixed(0)} / ${m.longTtftMs.p99.toFixed(0)} | ${m.runningTokPerSecLoaded.toFixed(1)} |`;
  return [
    `### Latency-target frontier (${r.date.slice(0, 10)}, ${r.machine})`,
    "",
    "Mixed workload: 8 streams decoding (128-token prompts) while 6 × 2,000-token prompts arrive, one a second.",
    "",
    "| engine | running ITL during prefill p50 / p99 ms | long-prompt TTFT p50 / p99 ms | running streams tok/s during prefill |",
    "|---|---|---|---|",
    ...r.loom.map((p) => row(`Loom --itl-target ${p.itlTargetMs}`, p.mixed)),
    ...(r.anchor ? [row("llama-server", r.anchor)] : []),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const targets = (process.env.LOOM_FRONTIER_TARGETS ?? "50,100,250,500,1000").split(",").map(Number);
  const cfg = benchConfig();
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const loom: { itlTargetMs: number; mixed: MixedResult }[] = [];
  for (const t of targets) {
    const flags = serverFlags(cfg, ["--parallel", String(PARALLEL), "--ctx-size", String(CTX_SIZE), "--itl-target", String(t)]);
    const mixed = await measure(() => startBenchServer(flags), cfg.modelName);
    process.stderr.write(
      `[frontier] loom --itl-target ${t}: ITL p99 ${mixed.runningItlLoadedMs.p99.toFixed(0)} ms, long TTFT p50 ${mixed.longTtftMs.p50.toFixed(0)} ms\n`,
    );
    loom.push({ itlTargetMs: t, mixed });
  }
  let anchor: MixedResult | null = null;
  let llamaServer: string | null = null;
  if (process.env.LOOM_FRONTIER_ANCHOR !== "0") {
    const build = await ensureLlamaServer(cfg.modelPath);
    llamaServer = build.description;
    anchor = await measure(() => startLlamaServer(anchorLlamaServer(build.binary, cfg)), cfg.modelName);
    process.stderr.write(
      `[frontier] llama-server: ITL p99 ${anchor.runningItlLoadedMs.p99.toFixed(0)} ms, long TTFT p50 ${anchor.longTtftMs.p50.toFixed(0)} ms\n`,
    );
  }
  const report: FrontierReport = { date: new Date().toISOString(), machine: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`, llamaServer, loom, anchor };
  mkdirSync(RESULTS, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  writeFileSync(`${RESULTS}frontier-${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeOutputs(report);
  process.stdout.write(`wrote bench/results/frontier-${stamp}.json\n`);
}

function writeOutputs(report: FrontierReport): void {
  const md = markdown(report);
  writeFileSync(`${RESULTS}frontier-latest.md`, md);
  writeFileSync(
    `${RESULTS}frontier-latest.svg`,
    renderFrontierSvg({
      title: "Loom's latency-target frontier vs llama-server (mixed workload)",
      subtitle: `${report.date.slice(0, 10)} · ${report.machine} · one point per --itl-target (ms) · lower-left is better`,
      loom: report.loom.map((p) => point(`${p.itlTargetMs} ms`, p.mixed)),
      anchor: report.anchor === null ? null : point("llama-server", report.anchor),
    }),
  );
  process.stdout.write(`\n${md}\nwrote bench/results/frontier-latest.md and frontier-latest.svg\n`);
}

if (process.argv[2] === "--render" && process.argv[3] !== undefined) writeOutputs(JSON.parse(readFileSync(process.argv[3], "utf8")) as FrontierReport);
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench:frontier failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });

// The anchor report: the JSON shape written to bench/results/anchor-<date>.json and its markdown side-by-side table
// (bench/results/anchor-latest.md) with Loom ÷ llama-server ratios per workload and concurrency.

import type { LoadResult, Percentiles } from "../load-generator.js";
import type { MixedResult, StreamProbe } from "./workloads.js";

export type Engine = "loom" | "llamaServer";
export type CellResult = Omit<LoadResult, "samples"> & { readonly promptTokens: number; readonly maxTokens: number; readonly retries: number };

export interface EngineRun {
  readonly probe: StreamProbe;
  readonly cells: readonly CellResult[];
  readonly mixed?: MixedResult;
  readonly command: string;
  /** 1-minute load average when the engine started and stopped: other work on the box skews results. */
  readonly loadAvg: readonly [number, number];
}

export interface AnchorReport {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpu: string; readonly node: string };
  readonly model: string;
  readonly threads: number;
  readonly threadsBatch: number;
  readonly parallel: number;
  readonly ctxSize: number;
  readonly llamaServer: { readonly binary: string; readonly commit: string; readonly buildSeconds: number; readonly cached: boolean };
  readonly engines: Partial<Record<Engine, EngineRun>>;
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pc = (p: Percentiles | undefined): string => (p ? `${f(p.p50, 0)} / ${f(p.p99, 0)}` : "–");

export function renderAnchor(r: AnchorReport): string {
  const loom = r.engines.loom;
  const ls = r.engines.llamaServer;
  const out = [
    `### Loom vs llama-server (${r.date.slice(0, 10)}, ${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node})`,
    "",
    `Model \`${r.model.split("/").pop()}\`; both engines: threads ${r.threads} (generation) / ${r.threadsBatch} (batch), ${r.parallel} slots, ` +
      `ctx ${r.ctxSize} total (${r.ctxSize / r.parallel} per slot). llama-server ${r.llamaServer.commit} built from node-llama-cpp's bundled source ` +
      `(GGML_NATIVE=ON, Release${r.llamaServer.cached ? ", cached build" : `, built in ${f(r.llamaServer.buildSeconds, 0)} s`}). ` +
      "Greedy, EOS ignored, unique random token-id prompts via /v1/completions, one server at a time.",
    "",
    "| prompt | conc | requests | Loom tok/s | llama-server tok/s | **tok/s ratio** | Loom TTFT p50 / p99 ms | llama-server TTFT p50 / p99 ms | **TTFT p99 ratio** | Loom ITL p50 / p99 ms | llama-server ITL p50 / p99 ms |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  const keys = new Map<string, { p: number; c: number }>();
  for (const c of [...(loom?.cells ?? []), ...(ls?.cells ?? [])]) keys.set(`${c.promptTokens}/${c.concurrency}`, { p: c.promptTokens, c: c.concurrency });
  for (const { p, c } of [...keys.values()].sort((a, b) => a.p - b.p || a.c - b.c)) {
    const a = loom?.cells.find((x) => x.promptTokens === p && x.concurrency === c);
    const b = ls?.cells.find((x) => x.promptTokens === p && x.concurrency === c);
    const tp = a && b ? a.outputTokensPerSecond / b.outputTokensPerSecond : NaN;
    const tt = a && b ? a.ttftMs.p99 / b.ttftMs.p99 : NaN;
    out.push(
      `| ${p} | ${c} | ${a?.requests ?? b?.requests ?? 0} | ${f(a?.outputTokensPerSecond ?? NaN)} | ${f(b?.outputTokensPerSecond ?? NaN)} | **${f(tp, 2)}** | ` +
        `${pc(a?.ttftMs)} | ${pc(b?.ttftMs)} | **${f(tt, 2)}** | ${pc(a?.itlMs)} | ${pc(b?.itlMs)} |`,
    );
  }
  out.push("", "Ratios are Loom ÷ llama-server: tok/s above 1 means Loom is faster; TTFT p99 below 1 means Loom answers sooner.", "");
  const retries = (run: EngineRun | undefined): number => run?.cells.reduce((n, c) => n + c.retries, 0) ?? 0;
  if (retries(loom) + retries(ls) > 0) out.push(`Requests retried after a connection failure before any response: Loom ${retries(loom)}, llama-server ${retries(ls)}.`, "");
  if (loom?.mixed || ls?.mixed) out.push(...mixedTable(loom?.mixed, ls?.mixed));
  out.push(...probeLines(r));
  out.push(`1-min load average at start → end: Loom ${loom ? loom.loadAvg.map((x) => f(x, 2)).join(" → ") : "–"}, llama-server ${ls ? ls.loadAvg.map((x) => f(x, 2)).join(" → ") : "–"} (the bench itself keeps ~${r.machine.cpus} busy; well above that means other work shared the CPUs and the run is noisy).`, "");
  return `${out.join("\n")}\n`;
}

function mixedTable(a: MixedResult | undefined, b: MixedResult | undefined): string[] {
  const m = a ?? b;
  if (!m) return [];
  const row = (name: string, x: MixedResult | undefined): string =>
    x ? `| ${name} | ${pc(x.longTtftMs)} | ${pc(x.runningItlUnloadedMs)} | ${pc(x.runningItlLoadedMs)} | ${f(x.runningTokPerSecLoaded)} |` : `| ${name} | – | – | – | – |`;
  return [
    `**Mixed:** ${m.running} streams decoding (128-token prompts) while ${m.longs} × ${m.longPromptTokens}-token prompts arrive, one every ${m.arrivalEveryMs} ms (4 output tokens each):`,
    "",
    "| engine | long-prompt TTFT p50 / p99 ms | running ITL unloaded p50 / p99 ms | running ITL during prefill p50 / p99 ms | running streams tok/s during prefill |",
    "|---|---|---|---|---|",
    row("Loom", a),
    row("llama-server", b),
    "",
  ];
}

function probeLines(r: AnchorReport): string[] {
  const line = (name: string, p: StreamProbe | undefined): string =>
    p
      ? `- ${name}: HTTP ${p.httpStatus}, ${p.frames} data frames, ${p.contentChunks} non-empty text chunks, ${p.emptyTextChunks} empty, usage in stream: ${p.usageInStream ? `yes (completion ${p.usageCompletionTokens}, prompt ${p.usagePromptTokens})` : "no"}, [DONE]: ${p.sawDone ? "yes" : "no"}; load-generator counted ${p.loadGeneratorTokens} tokens / ${p.loadGeneratorChunks} chunks → ${p.ok ? "ok" : "MISMATCH"}`
      : `- ${name}: not run`;
  return ["Stream-format probe (48-token id prompt, 32 tokens, ignore_eos, stream_options.include_usage):", "", line("Loom", r.engines.loom?.probe), line("llama-server", r.engines.llamaServer?.probe), ""];
}

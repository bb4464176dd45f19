// The anchor report: the JSON shape written to bench/results/anchor-<date>.json and its markdown side-by-side tables
// (bench/results/anchor-latest.md): Loom with the native/ build, Loom with node-llama-cpp's prebuilt binary and
// llama-server, with each Loom run ÷ llama-server per workload and concurrency. Reports written before the prebuilt
// run existed (engines `loom` and `llamaServer` only, no recorded binary) render too.

import type { LoadResult, Percentiles } from "../load-generator.js";
import type { MixedResult, StreamProbe, VariedResult } from "./workloads.js";

export type Engine = "loom" | "loomPrebuilt" | "llamaServer";
/** Report order: the Loom runs first, then the reference. */
export const ENGINES: readonly Engine[] = ["loom", "loomPrebuilt", "llamaServer"];
export type CellResult = Omit<LoadResult, "samples"> & { readonly promptTokens: number; readonly maxTokens: number; readonly retries: number };

/** Which llama.cpp binary a Loom run actually loaded. */
export interface LoomBinary {
  /** The `--native-build` flag the server was started with. */
  readonly nativeBuild: "auto" | "never";
  /** node-llama-cpp's buildType: "localBuild" is the native/ build (`npm run build:native`). */
  readonly buildType: "localBuild" | "prebuilt" | "unknown";
  /** Where buildType came from: the server's GET /v1/status, or the addon mapped into the server process. */
  readonly source: "status" | "proc-maps" | "none";
  /** The llama-addon.node the server process mapped, relative to node_modules/ where it lies there. */
  readonly addon: string | null;
  /** ggml backend libraries mapped beside it (the prebuilt picks one x86 CPU variant at load time). */
  readonly backends: readonly string[];
}

export interface EngineRun {
  readonly probe: StreamProbe;
  readonly cells: readonly CellResult[];
  readonly mixed?: MixedResult;
  /** Varied traffic, one result per client count; absent in reports written before it was run. */
  readonly varied?: readonly VariedResult[];
  readonly command: string;
  /** 1-minute load average when the engine started and stopped: other work on the box skews results. */
  readonly loadAvg: readonly [number, number];
  /** Loom runs only; absent in reports written before it was recorded. */
  readonly binary?: LoomBinary;
}

export interface AnchorReport {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpu: string; readonly node: string };
  readonly model: string;
  readonly threads: number;
  readonly threadsBatch: number;
  readonly parallel: number;
  readonly ctxSize: number;
  readonly llamaServer: {
    readonly binary: string;
    readonly commit: string;
    readonly buildSeconds: number;
    readonly cached: boolean;
    /** How it was configured (absent in reports from before the prebuilt-matched build: GGML_NATIVE=ON). */
    readonly description?: string;
  };
  readonly engines: Partial<Record<Engine, EngineRun>>;
}

/**
 * An engine's name as the report shows it, from the binary the run actually used: a `loom` run that found no
 * native build is "Loom auto→prebuilt", not "Loom native". Old reports without a recorded binary say just "Loom".
 */
export function engineLabel(e: Engine, run: EngineRun | undefined): string {
  if (e === "llamaServer") return "llama-server";
  const bt = run?.binary?.buildType;
  if (e === "loom") return bt === "localBuild" ? "Loom native" : bt === "prebuilt" ? "Loom auto→prebuilt" : "Loom";
  return bt === "localBuild" ? "Loom never→native (!)" : "Loom prebuilt";
}

/** The engines this report has runs for, in report order. */
export function enginesIn(r: AnchorReport): Engine[] {
  return ENGINES.filter((e) => r.engines[e] !== undefined);
}

export function findCell(run: EngineRun | undefined, prompt: number, conc: number): CellResult | undefined {
  return run?.cells.find((x) => x.promptTokens === prompt && x.concurrency === conc);
}

/** Every prompt length × concurrency any engine ran, sorted. */
export function cellKeys(r: AnchorReport): { readonly p: number; readonly c: number }[] {
  const keys = new Map<string, { p: number; c: number }>();
  for (const e of enginesIn(r))
    for (const c of r.engines[e]?.cells ?? []) keys.set(`${c.promptTokens}/${c.concurrency}`, { p: c.promptTokens, c: c.concurrency });
  return [...keys.values()].sort((a, b) => a.p - b.p || a.c - b.c);
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pc = (p: Percentiles | undefined): string => (p ? `${f(p.p50, 0)} / ${f(p.p99, 0)}` : "–");
const ratio = (a: number | undefined, b: number | undefined, bold = true): string =>
  a !== undefined && b !== undefined ? (bold ? `**${f(a / b, 2)}**` : f(a / b, 2)) : "–";

const row = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
const separator = (n: number): string => `|${"---|".repeat(n)}`;

export function renderAnchor(r: AnchorReport): string {
  const engines = enginesIn(r);
  const label = (e: Engine): string => engineLabel(e, r.engines[e]);
  const ls = r.engines.llamaServer;
  const looms = engines.filter((e) => e !== "llamaServer");
  /** Ratio columns: each Loom run ÷ llama-server, when llama-server ran. */
  const vs = ls ? looms : [];
  const out = [
    `### Loom vs llama-server (${r.date.slice(0, 10)}, ${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node})`,
    "",
    `Model \`${r.model.split("/").pop()}\`; all engines: threads ${r.threads} (generation) / ${r.threadsBatch} (batch), ${r.parallel} slots, ` +
      `ctx ${r.ctxSize} total (${r.ctxSize / r.parallel} per slot). llama-server ${r.llamaServer.commit} built from node-llama-cpp's bundled source ` +
      `(${r.llamaServer.description ?? "GGML_NATIVE=ON, Release"}${r.llamaServer.cached ? ", cached build" : `, built in ${f(r.llamaServer.buildSeconds, 0)} s`}). ` +
      "Greedy, EOS ignored, unique random token-id prompts via /v1/completions, one server at a time.",
    "",
    ...binaryLines(r, looms),
  ];
  const keys = cellKeys(r);
  const cell = (e: Engine, p: number, c: number): CellResult | undefined => findCell(r.engines[e], p, c);

  // Throughput.
  const both = looms.includes("loom") && looms.includes("loomPrebuilt");
  out.push(
    row([
      "prompt",
      "conc",
      "requests",
      ...engines.map((e) => `${label(e)} tok/s`),
      ...vs.map((e) => `**${label(e)} ÷ llama-server**`),
      ...(both ? [`${label("loom")} ÷ ${label("loomPrebuilt")}`] : []),
    ]),
    separator(3 + engines.length + vs.length + (both ? 1 : 0)),
  );
  for (const { p, c } of keys) {
    const requests = engines.map((e) => cell(e, p, c)?.requests).find((n) => n !== undefined) ?? 0;
    const tps = (e: Engine): number | undefined => cell(e, p, c)?.outputTokensPerSecond;
    out.push(
      row([
        String(p),
        String(c),
        String(requests),
        ...engines.map((e) => f(tps(e) ?? NaN)),
        ...vs.map((e) => ratio(tps(e), tps("llamaServer"))),
        ...(both ? [ratio(tps("loom"), tps("loomPrebuilt"), false)] : []),
      ]),
    );
  }
  out.push("", "Aggregate output tokens/s over the cell's wall time; a ratio above 1 means the first engine is faster.", "");

  // Latency.
  out.push(
    row([
      "prompt",
      "conc",
      ...engines.map((e) => `${label(e)} TTFT p50 / p99 ms`),
      ...vs.map((e) => `**${label(e)} ÷ llama-server TTFT p99**`),
      ...engines.map((e) => `${label(e)} ITL p50 / p99 ms`),
    ]),
    separator(2 + 2 * engines.length + vs.length),
  );
  for (const { p, c } of keys) {
    const ttft99 = (e: Engine): number | undefined => cell(e, p, c)?.ttftMs.p99;
    out.push(
      row([
        String(p),
        String(c),
        ...engines.map((e) => pc(cell(e, p, c)?.ttftMs)),
        ...vs.map((e) => ratio(ttft99(e), ttft99("llamaServer"))),
        ...engines.map((e) => pc(cell(e, p, c)?.itlMs)),
      ]),
    );
  }
  out.push("", "A TTFT p99 ratio below 1 means that Loom run answers sooner than llama-server. ITL: gaps between streamed tokens.", "");

  const retries = (e: Engine): number => r.engines[e]?.cells.reduce((n, c) => n + c.retries, 0) ?? 0;
  if (engines.some((e) => retries(e) > 0))
    out.push(`Requests retried after a connection failure before any response: ${engines.map((e) => `${label(e)} ${retries(e)}`).join(", ")}.`, "");
  out.push(...mixedTable(r, engines));
  out.push(...variedTable(r, engines));
  out.push(...probeLines(r, engines));
  out.push(
    `1-min load average at start → end: ${engines.map((e) => `${label(e)} ${(r.engines[e]?.loadAvg ?? []).map((x) => f(x, 2)).join(" → ")}`).join(", ")} ` +
      `(the bench itself keeps ~${r.machine.cpus} busy; well above that means other work shared the CPUs and the run is noisy).`,
    "",
  );
  return `${out.join("\n")}\n`;
}

/** Which llama.cpp binary each Loom run loaded, and a warning when both Loom runs loaded the same kind. */
function binaryLines(r: AnchorReport, looms: readonly Engine[]): string[] {
  if (looms.length === 0) return [];
  const one = (e: Engine): string => {
    const run = r.engines[e];
    const b = run?.binary;
    if (!b) {
      const mode = run?.command.includes("--native-build never") === true ? "never" : "auto";
      return `- ${engineLabel(e, run)}: not recorded in this report (\`--native-build ${mode}\`${mode === "auto" ? ": the native/ build if one was present, else the prebuilt" : ""})`;
    }
    const where = b.addon === null ? "" : ` \`${b.addon}\`${b.backends.length > 0 ? ` with ${b.backends.map((x) => `\`${x}\``).join(", ")}` : ""}`;
    const source =
      b.source === "status"
        ? "as GET /v1/status reports it"
        : b.source === "proc-maps"
          ? "as mapped in the server process"
          : "no addon found in the server process";
    return `- ${engineLabel(e, run)}: \`--native-build ${b.nativeBuild}\` → **${b.buildType}**${where} (${source})`;
  };
  const out = ["Loom's llama.cpp binary, per run:", "", ...looms.map(one), ""];
  const native = r.engines.loom?.binary?.buildType;
  if (native === "prebuilt") {
    out.push(
      "**No native build was present: the `loom` run (`--native-build auto`) used the prebuilt binary, so it is not a native-build result. Run `npm run build:native` first.**",
      "",
    );
  }
  return out;
}

function mixedTable(r: AnchorReport, engines: readonly Engine[]): string[] {
  const m = engines.map((e) => r.engines[e]?.mixed).find((x) => x !== undefined);
  if (!m) return [];
  const row = (e: Engine): string => {
    const x = r.engines[e]?.mixed;
    const name = engineLabel(e, r.engines[e]);
    return x
      ? `| ${name} | ${pc(x.longTtftMs)} | ${pc(x.runningItlUnloadedMs)} | ${pc(x.runningItlLoadedMs)} | ${f(x.runningTokPerSecLoaded)} |`
      : `| ${name} | – | – | – | – |`;
  };
  return [
    `**Mixed:** ${m.running} streams decoding (128-token prompts) while ${m.longs} × ${m.longPromptTokens}-token prompts arrive, one every ${m.arrivalEveryMs} ms (4 output tokens each):`,
    "",
    "| engine | long-prompt TTFT p50 / p99 ms | running ITL unloaded p50 / p99 ms | running ITL during prefill p50 / p99 ms | running streams tok/s during prefill |",
    "|---|---|---|---|---|",
    ...engines.map(row),
    "",
  ];
}

function variedTable(r: AnchorReport, engines: readonly Engine[]): string[] {
  const first = engines.map((e) => r.engines[e]?.varied).find((x) => x !== undefined)?.[0];
  if (!first) return [];
  const levels = [...new Set(engines.flatMap((e) => r.engines[e]?.varied?.map((v) => v.concurrency) ?? []))];
  const rows = levels.flatMap((c) =>
    engines.map((e) => {
      const v = r.engines[e]?.varied?.find((x) => x.concurrency === c);
      const base = r.engines.llamaServer?.varied?.find((x) => x.concurrency === c);
      const name = engineLabel(e, r.engines[e]);
      if (!v) return `| ${c} | ${name} | – | – | – | – |`;
      const vs = e === "llamaServer" || !base ? "" : ` (${ratio(v.outputTokensPerSecond, base.outputTokensPerSecond)})`;
      return `| ${c} | ${name} | ${v.requests} | ${f(v.outputTokensPerSecond)}${vs} | ${pc(v.ttftMs)} | ${pc(v.itlMs)} |`;
    }),
  );
  return [
    `**Varied traffic:** closed-loop clients, prompts of ${first.promptTokens.join("–")} tokens and ${first.maxTokens.join("–")} output tokens per request (seeded: the same requests for every engine):`,
    "",
    "| clients | engine | requests | tok/s (÷ llama-server) | TTFT p50 / p99 ms | ITL p50 / p99 ms |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ];
}

function probeLines(r: AnchorReport, engines: readonly Engine[]): string[] {
  const line = (e: Engine): string => {
    const name = engineLabel(e, r.engines[e]);
    const p = r.engines[e]?.probe;
    return p
      ? `- ${name}: HTTP ${p.httpStatus}, ${p.frames} data frames, ${p.contentChunks} non-empty text chunks, ${p.emptyTextChunks} empty, usage in stream: ${p.usageInStream ? `yes (completion ${p.usageCompletionTokens}, prompt ${p.usagePromptTokens})` : "no"}, [DONE]: ${p.sawDone ? "yes" : "no"}; load-generator counted ${p.loadGeneratorTokens} tokens / ${p.loadGeneratorChunks} chunks → ${p.ok ? "ok" : "MISMATCH"}`
      : `- ${name}: not run`;
  };
  return ["Stream-format probe (48-token id prompt, 32 tokens, ignore_eos, stream_options.include_usage):", "", ...engines.map(line), ""];
}

// The anchor report's rendering, on synthetic reports: a three-engine report (Loom native, Loom prebuilt,
// llama-server) gets both ratio columns, the binary each Loom run used and three legend entries in a well-formed SVG;
// a report from before the prebuilt run (loom + llamaServer only, no recorded binary) still renders; a `loom` run that
// found no native build is labelled as the prebuilt it used.
import { describe, expect, it } from "vitest";
import { renderAnchor, type AnchorReport, type CellResult, type EngineRun, type LoomBinary } from "../../../bench/anchor/anchor-report.js";
import { renderAnchorSvg } from "../../../bench/anchor/anchor-svg.js";
import type { Percentiles } from "../../../bench/load-generator.js";

const pct = (p50: number, p99: number): Percentiles => ({ p50, p90: p99, p99, max: p99, mean: p50 });

function cell(promptTokens: number, concurrency: number, tps: number, ttft: number): CellResult {
  return {
    label: `p${promptTokens}-c${concurrency}`,
    concurrency,
    requests: concurrency,
    wallMs: 1000,
    outputTokens: tps,
    outputTokensPerSecond: tps,
    ttftMs: pct(ttft, ttft * 2),
    itlMs: pct(10 * concurrency, 30 * concurrency),
    e2eMs: pct(ttft + 1000, ttft + 3000),
    promptTokens,
    maxTokens: 128,
    retries: 0,
  };
}

function run(scale: number, binary?: LoomBinary): EngineRun {
  const cells = [128, 1024].flatMap((p) => [1, 4, 16, 64].map((c) => cell(p, c, (scale * 100 * Math.sqrt(c) * 128) / p, (p / 128) * c * 100 * (2 - scale))));
  return {
    probe: {
      httpStatus: 200,
      frames: 33,
      contentChunks: 32,
      emptyTextChunks: 1,
      usageInStream: true,
      usageCompletionTokens: 32,
      usagePromptTokens: 48,
      sawDone: true,
      loadGeneratorTokens: 32,
      loadGeneratorChunks: 32,
      ok: true,
    },
    cells,
    command: "loom serve …",
    loadAvg: [1.5, 2.1],
    mixed: {
      running: 8,
      longPromptTokens: 2000,
      longs: 6,
      arrivalEveryMs: 1000,
      longTtftMs: pct(9000, 12000),
      runningItlUnloadedMs: pct(25, 40),
      runningItlLoadedMs: pct(70, 120),
      runningTokPerSecLoaded: 90,
    },
    ...(binary ? { binary } : {}),
  };
}

const binary = (nativeBuild: LoomBinary["nativeBuild"], buildType: LoomBinary["buildType"]): LoomBinary => ({
  nativeBuild,
  buildType,
  source: "proc-maps",
  addon:
    buildType === "localBuild"
      ? "node-llama-cpp/llama/localBuilds/linux-x64/Release/llama-addon.node"
      : "@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node",
  backends: [buildType === "localBuild" ? "libggml-cpu.so" : "libggml-cpu-zen4.so"],
});

const base: Omit<AnchorReport, "engines"> = {
  date: "2026-11-24T10:00:00.000Z",
  machine: { cpus: 2, cpu: "AMD EPYC", node: "v20.20.2" },
  model: "/x/models/generated/bench.gguf",
  threads: 1,
  threadsBatch: 2,
  parallel: 16,
  ctxSize: 32768,
  llamaServer: { binary: "/x/llama-server", commit: "de3ff81", buildSeconds: 0, cached: true },
};

const three: AnchorReport = {
  ...base,
  engines: { llamaServer: run(1), loom: run(0.8, binary("auto", "localBuild")), loomPrebuilt: run(0.6, binary("never", "prebuilt")) },
};
const old: AnchorReport = { ...base, engines: { llamaServer: run(1), loom: run(0.8) } };

/** Balanced tags, quoted attributes, no stray `<` or bare `&` in text: enough of XML to catch a broken SVG. */
function assertWellFormed(xml: string): string[] {
  const stack: string[] = [];
  const tags: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    expect(text, "bare & in text").not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+);)/);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (m === null) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 80)}`);
    const [, close, name, attrs, selfClose] = m as unknown as [string, string, string, string, string];
    const attrNames = [...attrs.matchAll(/([\w:-]+)="/g)].map((a) => a[1]);
    expect(new Set(attrNames).size, `duplicate attribute in <${name}>`).toBe(attrNames.length);
    if (close === "/") expect(stack.pop(), `closing </${name}>`).toBe(name);
    else if (selfClose !== "/") stack.push(name);
    tags.push(`${close}${name}`);
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
  expect(tags[0]).toBe("svg");
  return tags;
}

describe("anchor report", () => {
  it("renders three engines with native ÷ llama-server and prebuilt ÷ llama-server ratios", () => {
    const md = renderAnchor(three);
    expect(md).toContain(
      "| prompt | conc | requests | Loom native tok/s | Loom prebuilt tok/s | llama-server tok/s | **Loom native ÷ llama-server** | **Loom prebuilt ÷ llama-server** | Loom native ÷ Loom prebuilt |",
    );
    expect(md).toContain("**Loom native ÷ llama-server TTFT p99** | **Loom prebuilt ÷ llama-server TTFT p99**");
    // 128-token prompts, 64 clients: tok/s 800·0.8 : 800·0.6 : 800 → 0.80, 0.60, 1.33; TTFT p99 ratios 1.2, 1.4.
    expect(md).toMatch(/\| 128 \| 64 \| 64 \| 640\.0 \| 480\.0 \| 800\.0 \| \*\*0\.80\*\* \| \*\*0\.60\*\* \| 1\.33 \|/);
    expect(md).toMatch(/\| 128 \| 64 \| [^\n]*\| \*\*1\.20\*\* \| \*\*1\.40\*\* \|/);
    expect(md).toContain("- Loom native: `--native-build auto` → **localBuild**");
    expect(md).toContain("- Loom prebuilt: `--native-build never` → **prebuilt**");
    expect(md).toContain("| Loom prebuilt | 9000 / 12000 |");
    expect(md).toMatch(/- Loom prebuilt: HTTP 200/);
    expect(md).toMatch(/load average at start → end: Loom native 1\.50 → 2\.10, Loom prebuilt 1\.50 → 2\.10, llama-server 1\.50 → 2\.10/);
    expect(md).not.toContain("No native build was present");
  });

  it("still renders a report with only loom and llamaServer", () => {
    const md = renderAnchor(old);
    expect(md).toContain("| prompt | conc | requests | Loom tok/s | llama-server tok/s | **Loom ÷ llama-server** |");
    expect(md).toContain("- Loom: not recorded in this report");
    expect(md).not.toContain("prebuilt tok/s");
    const svg = renderAnchorSvg(old);
    assertWellFormed(svg);
    expect(svg.match(/class="legend-entry"/g)).toHaveLength(2);
  });

  it("labels a `loom` run that found no native build by the binary it used", () => {
    const md = renderAnchor({ ...three, engines: { ...three.engines, loom: run(0.8, binary("auto", "prebuilt")) } });
    expect(md).toContain("Loom auto→prebuilt tok/s");
    expect(md).not.toContain("Loom native");
    expect(md).toContain("No native build was present");
  });

  it("draws a well-formed SVG with three legend entries and a bar per engine, concurrency, prompt and metric", () => {
    const svg = renderAnchorSvg(three);
    const tags = assertWellFormed(svg);
    expect(svg.match(/class="legend-entry"/g)).toHaveLength(3);
    for (const name of ["Loom native", "Loom prebuilt", "llama-server"]) expect(svg).toContain(`>${name} (`);
    // 3 engines × 2 prompts × 4 concurrencies × 5 metrics, plus 3 legend swatches and the background.
    expect(tags.filter((t) => t === "rect")).toHaveLength(3 * 2 * 4 * 5 + 3 + 1);
    for (const title of [
      "Aggregate output tokens/s",
      "Time to first token, p50",
      "Time to first token, p99",
      "Inter-token latency, p50",
      "Inter-token latency, p99",
    ]) {
      expect(svg).toContain(title);
    }
  });
});

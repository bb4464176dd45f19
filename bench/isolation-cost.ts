// `npm run bench:isolation`: what engine processes cost against worker threads (--engine-isolation process vs
// thread): the same server, model and load, streamed output tok/s at 16 and 64 concurrent streams, the two modes
// interleaved (thread, process, thread, …) so drift on a shared machine falls on both. Every message of an engine
// process crosses Node's IPC channel (serialized, a pipe, deserialized) where a thread's is a structured clone;
// the question is whether that shows in tok/s (the bar: within 2%). Models: the bench model (a step takes
// tens of ms here) and the tiny one (a step takes ~1 ms: the worst case for a per-step cost). Env:
// LOOM_ISO_MODELS=bench,tiny LOOM_ISO_STREAMS=16,64 LOOM_ISO_REPEATS=3. Writes bench/results/isolation-<date>.json
// and isolation-latest.md.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDefaultModel, makeSyntheticModel } from "../models/make-synthetic-model.js";
import { benchConfig, envList } from "./bench-config.js";
import { runLoad } from "./load-generator.js";
import { startBenchServer, warmUp } from "./server-process.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const MODES = ["thread", "process"] as const;
type Mode = (typeof MODES)[number];
const REPEATS = Number(process.env.LOOM_ISO_REPEATS ?? 3);
const STREAMS = envList(process.env.LOOM_ISO_STREAMS, "16,64").map(Number);
const MODELS = envList(process.env.LOOM_ISO_MODELS, "bench,tiny");
const MAX_TOKENS = 64;
const PROMPT_TOKENS = 32;

interface Run {
  readonly model: string;
  readonly streams: number;
  readonly mode: Mode;
  readonly repeat: number;
  readonly tokPerS: number;
  readonly itlP50Ms: number;
  readonly itlP99Ms: number;
  readonly outputTokens: number;
}

async function modelPath(name: string): Promise<string> {
  if (name === "tiny") return ensureDefaultModel();
  const path = benchConfig().modelPath;
  if (!existsSync(path)) await makeSyntheticModel({ preset: "bench", outPath: path });
  return path;
}

/** Requests per client so a cell streams a few thousand tokens whatever the model's speed. */
function requestsPerClient(model: string, streams: number): number {
  const tokens = model === "tiny" ? 24_000 : 4_000;
  return Math.max(2, Math.round(tokens / (streams * MAX_TOKENS)));
}

async function measure(model: string, path: string, streams: number, mode: Mode, repeat: number): Promise<Run> {
  const cfg = benchConfig();
  const server = await startBenchServer([
    ...["--model", `${model}=${path}`, "--threads", String(cfg.threads), "--threads-batch", String(cfg.threadsBatch)],
    ...["--parallel", String(Math.max(streams, 16)), "--ctx-size", String(Math.max(streams, 16) * 256), "--grpc-port", "off"],
    ...["--engine-isolation", mode, "--max-queue", "1024"],
  ]);
  try {
    await warmUp(server.url, model);
    const r = await runLoad({
      url: server.url,
      model,
      concurrency: streams,
      requestsPerClient: requestsPerClient(model, streams),
      promptTokens: PROMPT_TOKENS,
      maxTokens: MAX_TOKENS,
      label: `${model} ${streams} ${mode}`,
    });
    const run = { model, streams, mode, repeat, tokPerS: r.outputTokensPerSecond, itlP50Ms: r.itlMs.p50, itlP99Ms: r.itlMs.p99, outputTokens: r.outputTokens };
    process.stdout.write(`${run.model} ${run.streams} streams ${run.mode}: ${run.tokPerS.toFixed(1)} tok/s, ITL p50 ${run.itlP50Ms.toFixed(1)} ms\n`);
    return run;
  } finally {
    await server.stop();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function render(runs: readonly Run[], when: string): string {
  const lines = [
    `# Engine isolation cost (${when}, ${cpus()[0]?.model ?? "cpu"} × ${cpus().length})`,
    "",
    `Streamed output tok/s, ${PROMPT_TOKENS}-token prompts, ${MAX_TOKENS} tokens each; median of ${REPEATS} interleaved runs per mode.`,
    "",
    "| model | streams | thread tok/s | process tok/s | process ÷ thread | runs (thread / process) |",
    "|---|---|---|---|---|---|",
  ];
  for (const model of MODELS) {
    for (const streams of STREAMS) {
      const of = (mode: Mode): number[] => runs.filter((r) => r.model === model && r.streams === streams && r.mode === mode).map((r) => r.tokPerS);
      const t = of("thread");
      const p = of("process");
      if (t.length === 0 || p.length === 0) continue;
      const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(", ");
      lines.push(
        `| ${model} | ${streams} | ${median(t).toFixed(1)} | ${median(p).toFixed(1)} | ${(median(p) / median(t)).toFixed(3)} | ${list(t)} / ${list(p)} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (const model of MODELS) {
    const path = await modelPath(model);
    for (const streams of STREAMS) {
      for (let repeat = 0; repeat < REPEATS; repeat++) {
        // Alternate which mode goes first, so neither always runs on a warmer (or hotter) machine.
        const order = repeat % 2 === 0 ? MODES : [...MODES].reverse();
        for (const mode of order) runs.push(await measure(model, path, streams, mode, repeat));
      }
    }
  }
  const when = new Date().toISOString().replace(/[:.]/g, "-");
  mkdirSync(RESULTS, { recursive: true });
  const report = render(runs, when);
  writeFileSync(join(RESULTS, `isolation-${when}.json`), JSON.stringify({ when, cpu: cpus()[0]?.model, runs }, null, 2));
  writeFileSync(join(RESULTS, "isolation-latest.md"), report);
  process.stdout.write(report);
}

await main();

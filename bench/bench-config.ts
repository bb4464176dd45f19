// What every benchmark scenario shares: the model file, the thread counts (one setting for the whole run) and the
// server flags derived from them. Overridable by env so a run on another machine can say what it used.

import { fileURLToPath } from "node:url";
import { defaultThreads, defaultThreadsBatch } from "../src/config.js";
import { availableParallelism } from "node:os";

export interface BenchConfig {
  readonly modelPath: string;
  readonly modelName: string;
  readonly threads: number;
  readonly threadsBatch: number;
  readonly quick: boolean;
}

export function benchConfig(): BenchConfig {
  const cpus = availableParallelism();
  return {
    modelPath: process.env.LOOM_BENCH_MODEL ?? fileURLToPath(new URL("../../models/generated/bench.gguf", import.meta.url)),
    modelName: "bench",
    threads: Number(process.env.LOOM_BENCH_THREADS ?? defaultThreads(cpus)),
    threadsBatch: Number(process.env.LOOM_BENCH_THREADS_BATCH ?? defaultThreadsBatch(cpus)),
    quick: process.env.LOOM_BENCH_QUICK === "1",
  };
}

export function serverFlags(cfg: BenchConfig, extra: readonly string[] = []): string[] {
  return ["--model", `${cfg.modelName}=${cfg.modelPath}`, "--threads", String(cfg.threads), "--threads-batch", String(cfg.threadsBatch), ...extra];
}

/** A comma-separated env list (or its default), trimmed, empty items dropped. */
export function envList(env: string | undefined, dflt: string): string[] {
  return (env ?? dflt)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

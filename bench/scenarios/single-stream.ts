// Single-stream decode speed: Loom (HTTP, SSE, engine worker) against a minimal loop that drives node-llama-cpp
// directly in one process with the same binary, threads and per-sequence context. Rounds alternate the two so
// machine noise hits both alike; the ratio of medians is reported.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BenchConfig } from "../bench-config.js";
import { serverFlags } from "../bench-config.js";
import type { DirectLoopResult } from "../direct-loop.js";
import { streamOne, makePrompt } from "../load-generator.js";
import { startBenchServer, warmUp } from "../server-process.js";

const DIRECT = fileURLToPath(new URL("../direct-loop.js", import.meta.url));
const SLOT_CTX = 1024;

export interface SingleStreamResult {
  readonly loomTokensPerSecond: readonly number[];
  readonly directTokensPerSecond: readonly number[];
  readonly ratio: number;
}

export async function runSingleStream(cfg: BenchConfig): Promise<SingleStreamResult> {
  const rounds = cfg.quick ? 2 : 3;
  const gen = 256;
  const loom: number[] = [];
  const direct: number[] = [];
  const server = await startBenchServer(serverFlags(cfg, ["--parallel", "16", "--ctx-size", String(16 * SLOT_CTX)]));
  try {
    await warmUp(server.url, cfg.modelName);
    for (let r = 0; r < rounds; r++) {
      direct.push((await runDirect(cfg, gen)).tokensPerSecond);
      const s = await streamOne({ url: server.url, model: cfg.modelName, maxTokens: gen }, 0, makePrompt(128, 0, Math.random));
      loom.push((s.tokens - 1) / ((s.e2eMs - s.ttftMs) / 1000));
    }
  } finally {
    await server.stop();
  }
  return { loomTokensPerSecond: loom, directTokensPerSecond: direct, ratio: median(loom) / median(direct) };
}

async function runDirect(cfg: BenchConfig, gen: number): Promise<DirectLoopResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [DIRECT, cfg.modelPath, String(cfg.threads), "128", String(gen), "1"], {
    env: { ...process.env, DIRECT_CTX: String(SLOT_CTX) },
  });
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as DirectLoopResult;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

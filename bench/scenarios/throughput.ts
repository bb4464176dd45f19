// Aggregate output tokens/s, TTFT and inter-token latency at several concurrencies (prompt 128, output 128, greedy,
// EOS ignored), plus the main thread's event-loop delay with 64 concurrent streams.

import type { BenchConfig } from "../bench-config.js";
import { serverFlags } from "../bench-config.js";
import { runLoad, type LoadResult } from "../load-generator.js";
import { mainThreadLag, startBenchServer, warmUp, type MainThreadLag } from "../server-process.js";

export interface ThroughputResult {
  readonly runs: readonly Omit<LoadResult, "samples">[];
  readonly lag64: MainThreadLag;
  readonly ratioC16toC1: number;
}

export async function runThroughput(cfg: BenchConfig): Promise<ThroughputResult> {
  const levels = cfg.quick ? [1, 16] : [1, 4, 16];
  const server = await startBenchServer(serverFlags(cfg, ["--parallel", "16", "--ctx-size", String(16 * 1024)]));
  const runs: Omit<LoadResult, "samples">[] = [];
  try {
    await warmUp(server.url, cfg.modelName);
    for (const c of levels) {
      const { samples: _s, ...r } = await runLoad({
        url: server.url,
        model: cfg.modelName,
        concurrency: c,
        requestsPerClient: c === 1 ? 5 : 2,
        promptTokens: 128,
        maxTokens: 128,
        label: `c${c}`,
      });
      runs.push(r);
    }
  } finally {
    await server.stop();
  }
  const lag64 = await runLag64(cfg, runs);
  const at = (c: number): number => runs.find((r) => r.concurrency === c)?.outputTokensPerSecond ?? NaN;
  return { runs, lag64, ratioC16toC1: at(16) / at(1) };
}

/** 64 streams at once on 64 slots: the main thread writes 64 SSE streams while the engine steps. */
async function runLag64(cfg: BenchConfig, runs: Omit<LoadResult, "samples">[]): Promise<MainThreadLag> {
  const server = await startBenchServer(serverFlags(cfg, ["--parallel", "64", "--ctx-size", String(64 * 512)]));
  try {
    await warmUp(server.url, cfg.modelName);
    const { samples: _s, ...r } = await runLoad({
      url: server.url,
      model: cfg.modelName,
      concurrency: 64,
      requestsPerClient: 1,
      promptTokens: 128,
      maxTokens: cfg.quick ? 32 : 128,
      label: "c64",
    });
    runs.push(r);
    return await mainThreadLag(server.url);
  } finally {
    await server.stop();
  }
}

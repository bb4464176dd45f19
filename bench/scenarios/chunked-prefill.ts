// Long prompts arriving while streams run: 4 streams decode; after an unloaded window, 8 long (2,000-token) prompts
// arrive at once and short (64-token) requests keep arriving. Run twice on fresh servers: prefill chunked to the
// latency target (the default --itl-target) and no target (--itl-target 0: prompts fill the whole batch). Reports the shorts' TTFT and the running
// streams' inter-token latency, unloaded vs while the long prompts prefill.

import type { BenchConfig } from "../bench-config.js";
import { serverFlags } from "../bench-config.js";
import { gapsWithin, makePrompt, percentiles, sleep, streamOne, type Percentiles, type RequestSample } from "../load-generator.js";
import { startBenchServer, warmUp } from "../server-process.js";

export interface PrefillRun {
  /** The --itl-target the server ran with ("default" or the value). */
  readonly itlTarget: string;
  readonly shortTtftMs: Percentiles;
  readonly longTtftMs: Percentiles;
  readonly runningItlUnloadedMs: Percentiles;
  readonly runningItlLoadedMs: Percentiles;
}

export interface ChunkedPrefillResult {
  readonly chunked: PrefillRun;
  readonly unchunked: PrefillRun;
  /** chunked short-TTFT p99 / unchunked short-TTFT p99 (goal ≤ 0.2). */
  readonly shortTtftP99Ratio: number;
  /** chunked loaded ITL p99 / its unloaded ITL p99 (goal ≤ 3). */
  readonly itlP99LoadedOverUnloaded: number;
}

const RUNNING = 4;
const LONGS = 8;
const LONG_PROMPT = 2000;
const SHORT_PROMPT = 64;
const SLOT_CTX = 2112;

export async function runChunkedPrefill(cfg: BenchConfig): Promise<ChunkedPrefillResult> {
  const chunked = await runOnce(cfg, null);
  const unchunked = await runOnce(cfg, "0");
  return {
    chunked,
    unchunked,
    shortTtftP99Ratio: chunked.shortTtftMs.p99 / unchunked.shortTtftMs.p99,
    itlP99LoadedOverUnloaded: chunked.runningItlLoadedMs.p99 / chunked.runningItlUnloadedMs.p99,
  };
}

async function runOnce(cfg: BenchConfig, itlTarget: string | null): Promise<PrefillRun> {
  const extra = ["--parallel", "16", "--ctx-size", String(16 * SLOT_CTX), ...(itlTarget === null ? [] : ["--itl-target", itlTarget])];
  const server = await startBenchServer(serverFlags(cfg, extra));
  const target = { url: server.url, model: cfg.modelName };
  const rng = Math.random;
  try {
    await warmUp(server.url, cfg.modelName);
    const stop = new AbortController();
    const running = Array.from({ length: RUNNING }, (_, i) => streamOne({ ...target, maxTokens: 2000 }, i, makePrompt(SHORT_PROMPT, 0, rng), stop.signal));
    await sleep(3000); // all four are decoding by now
    const unloadedFrom = performance.now();
    await sleep(2000);
    const loadedFrom = performance.now();
    const longs = Array.from({ length: LONGS }, (_, i) => streamOne({ ...target, maxTokens: 4 }, 100 + i, makePrompt(LONG_PROMPT, 0, rng)));
    const shorts: Promise<RequestSample>[] = [];
    for (let i = 0; i < 8; i++) {
      shorts.push(streamOne({ ...target, maxTokens: 8 }, 200 + i, makePrompt(SHORT_PROMPT, 0, rng)));
      await sleep(400);
    }
    const longDone = await Promise.all(longs);
    const loadedUntil = Math.max(...longDone.map((s) => s.startedAt + s.ttftMs));
    const shortDone = await Promise.all(shorts);
    stop.abort();
    const runs = await Promise.all(running);
    return {
      itlTarget: itlTarget ?? "default",
      shortTtftMs: percentiles(shortDone.map((s) => s.ttftMs)),
      longTtftMs: percentiles(longDone.map((s) => s.ttftMs)),
      runningItlUnloadedMs: percentiles(gapsWithin(runs, unloadedFrom, loadedFrom)),
      runningItlLoadedMs: percentiles(gapsWithin(runs, loadedFrom, loadedUntil)),
    };
  } finally {
    await server.stop();
  }
}

// The anchor's workloads, run identically against Loom and llama-server: a stream-format probe (token-id prompt,
// ignore_eos, stream + include_usage), the prompt × concurrency matrix (closed-loop clients over load-generator's
// streamOne, with a fallback to counting content chunks when a server sends no usage frame), and a mixed workload:
// 8 streams decoding while 2,000-token prompts keep arriving; and varied traffic: closed-loop clients whose prompt and
// output lengths differ request to request (the same seeded requests for every engine), so streams join and leave
// the batch at different steps and occupy scattered slots.

import type { BenchConfig } from "../bench-config.js";
import type { LlamaServerOptions } from "./llama-server-process.js";
import { Xoshiro128 } from "../../models/prng.js";
import { gapsWithin, makePrompt, percentiles, sleep, streamOne, summarize, type LoadResult, type Percentiles, type RequestSample } from "../load-generator.js";

/** Slots and total context every anchor engine runs with: 2,048 cells per slot fit a 2,000-token prompt (mixed) or 1,024 + 128. */
export const PARALLEL = 16;
export const CTX_SIZE = PARALLEL * 2048;

/** llama-server on the anchor's shape: the bench config's model and threads, PARALLEL slots, CTX_SIZE cells. */
export function anchorLlamaServer(binary: string, cfg: BenchConfig): LlamaServerOptions {
  return { binary, modelPath: cfg.modelPath, threads: cfg.threads, threadsBatch: cfg.threadsBatch, parallel: PARALLEL, ctxSize: CTX_SIZE };
}

export interface Target {
  readonly url: string;
  readonly model: string;
}

export interface StreamProbe {
  readonly httpStatus: number;
  readonly frames: number;
  readonly contentChunks: number;
  readonly emptyTextChunks: number;
  readonly usageInStream: boolean;
  readonly usageCompletionTokens: number | null;
  readonly usagePromptTokens: number | null;
  readonly sawDone: boolean;
  /** What load-generator's streamOne counted for the same kind of request. */
  readonly loadGeneratorTokens: number;
  readonly loadGeneratorChunks: number;
  readonly ok: boolean;
}

interface Frame {
  readonly choices?: readonly { readonly text?: string }[];
  readonly usage?: { readonly completion_tokens?: number; readonly prompt_tokens?: number } | null;
}

/** One hand-parsed streamed request, then the same through streamOne: do they agree on 32 tokens? */
export async function probeStream(t: Target): Promise<StreamProbe> {
  const maxTokens = 32;
  const prompt = makePrompt(48, 0, Math.random);
  const res = await fetch(`${t.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: t.model,
      prompt,
      max_tokens: maxTokens,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  const body = await res.text();
  let frames = 0,
    contentChunks = 0,
    emptyTextChunks = 0,
    sawDone = false;
  let usage: Frame["usage"] = null;
  for (const raw of body.split("\n\n")) {
    const line = raw.trim();
    if (!line.startsWith("data: ")) continue;
    if (line === "data: [DONE]") {
      sawDone = true;
      continue;
    }
    frames++;
    const f = JSON.parse(line.slice(6)) as Frame;
    if (f.usage) usage = f.usage;
    const text = f.choices?.[0]?.text;
    if (text === undefined) continue;
    if (text === "") emptyTextChunks++;
    else contentChunks++;
  }
  const lg = await streamOne({ ...t, maxTokens }, 0, makePrompt(48, 0, Math.random));
  const usageTokens = usage?.completion_tokens ?? null;
  return {
    httpStatus: res.status,
    frames,
    contentChunks,
    emptyTextChunks,
    usageInStream: usage !== null && usage !== undefined,
    usageCompletionTokens: usageTokens,
    usagePromptTokens: usage?.prompt_tokens ?? null,
    sawDone,
    loadGeneratorTokens: lg.tokens,
    loadGeneratorChunks: lg.chunkTimes.length,
    ok: res.status === 200 && (usageTokens ?? contentChunks) === maxTokens && lg.tokens === maxTokens,
  };
}

export interface MatrixCell {
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly concurrency: number;
  readonly requestsPerClient: number;
}

/**
 * Closed-loop clients (each runs its requests back to back); tokens fall back to content chunks without usage. A
 * request whose connection fails before any response ("fetch failed": a pooled keep-alive socket the server had just
 * closed) is retried, at most twice, and counted in `retries`.
 */
export async function runCell(t: Target, cell: MatrixCell): Promise<LoadResult & { readonly retries: number }> {
  const samples: RequestSample[] = [];
  let retries = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: cell.concurrency }, async (_, c) => {
      for (let i = 0; i < cell.requestsPerClient; i++) {
        const prompt = makePrompt(cell.promptTokens, 0, Math.random);
        for (let attempt = 0; ; attempt++) {
          try {
            const s = await streamOne({ ...t, maxTokens: cell.maxTokens }, c, prompt);
            samples.push(s.tokens > 0 ? s : { ...s, tokens: s.chunkTimes.length });
            break;
          } catch (err) {
            if (attempt >= 2 || !(err instanceof TypeError) || err.message !== "fetch failed") throw err;
            retries++;
            process.stderr.write(`[anchor] retrying after fetch failed: ${String(err.cause)}\n`);
          }
        }
      }
    }),
  );
  return { ...summarize({ label: `p${cell.promptTokens}-c${cell.concurrency}`, concurrency: cell.concurrency }, samples, performance.now() - t0), retries };
}

export interface MixedResult {
  readonly running: number;
  readonly longPromptTokens: number;
  readonly longs: number;
  readonly arrivalEveryMs: number;
  readonly longTtftMs: Percentiles;
  readonly runningItlUnloadedMs: Percentiles;
  readonly runningItlLoadedMs: Percentiles;
  /** Output tokens/s of the running streams while the long prompts were being served. */
  readonly runningTokPerSecLoaded: number;
}

const MIXED = { running: 8, runningPrompt: 128, longPrompt: 2000, longs: 6, everyMs: 1000, longMax: 4 } as const;

/** 8 streams decode; after an unloaded window, 2,000-token prompts arrive one per second. */
export async function runMixed(t: Target): Promise<MixedResult> {
  const stop = new AbortController();
  const running = Array.from({ length: MIXED.running }, (_, i) =>
    streamOne({ ...t, maxTokens: 1800 }, i, makePrompt(MIXED.runningPrompt, 0, Math.random), stop.signal),
  );
  await sleep(3000);
  const unloadedFrom = performance.now();
  await sleep(3000);
  const loadedFrom = performance.now();
  const longs: Promise<RequestSample>[] = [];
  for (let i = 0; i < MIXED.longs; i++) {
    longs.push(streamOne({ ...t, maxTokens: MIXED.longMax }, 100 + i, makePrompt(MIXED.longPrompt, 0, Math.random)));
    await sleep(MIXED.everyMs);
  }
  const longDone = await Promise.all(longs);
  const loadedUntil = Math.max(...longDone.map((s) => s.startedAt + s.ttftMs));
  stop.abort();
  const runs = await Promise.all(running);
  const loadedChunks = runs.reduce((n, s) => n + s.chunkTimes.filter((x) => x >= loadedFrom && x < loadedUntil).length, 0);
  return {
    running: MIXED.running,
    longPromptTokens: MIXED.longPrompt,
    longs: MIXED.longs,
    arrivalEveryMs: MIXED.everyMs,
    longTtftMs: percentiles(longDone.map((s) => s.ttftMs)),
    runningItlUnloadedMs: percentiles(gapsWithin(runs, unloadedFrom, loadedFrom)),
    runningItlLoadedMs: percentiles(gapsWithin(runs, loadedFrom, loadedUntil)),
    runningTokPerSecLoaded: loadedChunks / ((loadedUntil - loadedFrom) / 1000),
  };
}

export interface VariedResult extends Omit<LoadResult, "samples" | "label"> {
  readonly promptTokens: readonly [number, number];
  readonly maxTokens: readonly [number, number];
}

const VARIED = { requestsPerClient: 4, prompt: [32, 512], output: [16, 256] } as const;

/** One request of client `c`'s seeded stream: prompt and output lengths uniform in VARIED's ranges. */
function variedRequest(rng: Xoshiro128): { prompt: number[]; maxTokens: number } {
  const between = (lo: number, hi: number): number => lo + (rng.nextU32() % (hi - lo + 1));
  const length = between(...VARIED.prompt);
  const maxTokens = between(...VARIED.output);
  return { prompt: makePrompt(length, 0, () => rng.nextU32() / 2 ** 32), maxTokens };
}

/** `clients` closed-loop clients, VARIED.requestsPerClient requests each, lengths from each client's own seed. */
export async function runVaried(t: Target, clients: number): Promise<VariedResult> {
  const samples: RequestSample[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const rng = new Xoshiro128(9000 + c);
      for (let i = 0; i < VARIED.requestsPerClient; i++) {
        const { prompt, maxTokens } = variedRequest(rng);
        samples.push(await streamOne({ ...t, maxTokens }, c, prompt));
      }
    }),
  );
  const { samples: _s, label: _l, ...r } = summarize({ concurrency: clients }, samples, performance.now() - t0);
  return { ...r, promptTokens: VARIED.prompt, maxTokens: VARIED.output };
}

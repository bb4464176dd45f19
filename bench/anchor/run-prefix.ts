// `npm run bench:prefix`: the prefix cache on three workloads, each run in one go against Loom, Loom with
// --no-prefix-cache and llama-server (built as the anchor: same model file, slots, context and threads; its
// cache_prompt is on by default). Token-id prompts on /v1/completions, streamed, greedy, ignore_eos; TTFT per request.
//   (a) shared system prompt: 32 users, one 1,000-token system prompt, a distinct 50-token question each, 8 at a time;
//   (b) multi-turn: 8 conversations × 10 turns, interleaved; each turn re-sends the conversation so far (its own
//       200-token system prompt, then per turn a 50-token question and a fixed 32-token "answer") plus a new question;
//   (c) shared prefix in a busy slot: one long request holds a 1,000-token prefix in its slot while it decodes, the
//       other slots hold unrelated prompts, then 16 clients send that prefix plus a question each, at once;
//   (d) a cycle beyond the slots: 24 distinct 900-token prompts (16 slots), 8 clients at a time, sent once to fill
//       the cache and again as the measured pass (a prompt evicted from its slot before it comes back).
// Goals (issue 9): Loom's TTFT p50 with the cache ≥ 5× lower than without it, and ≥ 2× lower than llama-server's on (a)
// and (c), no higher on (b); (d) has no goal of its own. Env: LOOM_PREFIX_ENGINES=llama-server,loom,loom-no-cache
// LOOM_PREFIX_WORKLOADS=a,b,c,d.
// Writes bench/results/prefix-<date>.json and prefix-latest.md.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Xoshiro128 } from "../../models/prng.js";
import { benchConfig, envList, serverFlags, type BenchConfig } from "../bench-config.js";
import { percentiles, sleep, streamOne, VOCAB_LOW, VOCAB_SPAN, type Percentiles, type RequestSample } from "../load-generator.js";
import { startBenchServer, type BenchServer } from "../server-process.js";
import { ensureLlamaServer } from "./build-llama-server.js";
import { setFetchTimeouts } from "./fetch-timeouts.js";
import { startLlamaServer } from "./llama-server-process.js";
import { anchorLlamaServer, CTX_SIZE, PARALLEL, type Target } from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const MAX_TOKENS = 16;

/** `n` token ids from their own seeded stream: prompts of different seeds share nothing. */
function tokens(seed: number, n: number): number[] {
  const rng = new Xoshiro128(seed);
  return Array.from({ length: n }, () => VOCAB_LOW + (rng.nextU32() % VOCAB_SPAN));
}

interface WorkloadResult {
  readonly workload: string;
  readonly engine: string;
  readonly requests: number;
  readonly wallMs: number;
  readonly ttftMs: Percentiles;
  /** Loom only: cached ÷ prompt tokens over the workload (its own metrics). */
  readonly hitRate?: number;
  /** Loom with several engines: requests in flight per worker, summed over 100 ms samples (load balance). */
  readonly workerLoad?: readonly number[];
}

let retries = 0;

/** Loom's prompt and cached-token counters for the bench model. */
async function promptCounters(url: string, model: string): Promise<{ prompt: number; cached: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${name}{model="${model}"}`))
        ?.split(" ")
        .pop() ?? 0,
    );
  return { prompt: value("loom_prompt_tokens_total"), cached: value("loom_prompt_cached_tokens_total") };
}

/** Samples Loom's per-worker in-flight counts every 100 ms until stopped; returns their sums per worker. */
function sampleWorkerLoad(url: string, model: string): () => number[] {
  const sums: number[] = [];
  const timer = setInterval(() => {
    void fetch(`${url}/v1/status`)
      .then((r) => r.json() as Promise<{ models: { id: string; workers: { inFlight: number }[] }[] }>)
      .then((s) => s.models.find((m) => m.id === model)?.workers.forEach((w, i) => (sums[i] = (sums[i] ?? 0) + w.inFlight)))
      .catch(() => undefined);
  }, 100);
  return () => {
    clearInterval(timer);
    return sums;
  };
}

/**
 * One streamed request. A connection that fails before any response ("fetch failed": a keep-alive socket the server
 * closed as it was reused) is retried once, and counted in the report.
 */
/** A connection-level failure ("fetch failed": a reused keep-alive socket the server had just closed) is retried. */
const FETCH_ATTEMPTS = 3;

async function ask(t: Target, prompt: number[], maxTokens = MAX_TOKENS, signal?: AbortSignal): Promise<RequestSample> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await streamOne({ url: t.url, model: t.model, maxTokens }, 0, prompt, signal);
    } catch (err) {
      if (!(err instanceof TypeError) || signal?.aborted === true || attempt === FETCH_ATTEMPTS) throw err;
      retries++;
      log(`retrying a request after: ${err.message} (${String((err.cause as Error | undefined)?.message ?? "no cause")})`);
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** (a) 32 users share a 1,000-token system prompt; 8 clients, 4 users each, back to back. */
async function sharedSystemPrompt(t: Target, seed: number): Promise<RequestSample[]> {
  const system = tokens(seed, 1000);
  const samples: RequestSample[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      for (let u = 0; u < 4; u++) samples.push(await ask(t, [...system, ...tokens(seed + 1 + c * 4 + u, 50)]));
    }),
  );
  return samples;
}

/** (b) 8 conversations × 10 turns, all conversations in flight at once, each turn after the previous one's answer. */
async function multiTurn(t: Target, seed: number): Promise<RequestSample[]> {
  const samples: RequestSample[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, c) => {
      let history = tokens(seed + 100 * c, 200);
      for (let turn = 0; turn < 10; turn++) {
        const prompt = [...history, ...tokens(seed + 100 * c + 1 + turn, 50)];
        samples.push(await ask(t, prompt));
        history = [...prompt, ...tokens(seed + 100 * c + 50 + turn, 32)];
      }
    }),
  );
  return samples;
}

/** (c) The prefix sits only in a busy slot (the rest hold other prompts) when 16 clients send it at once. */
async function busyPrefix(t: Target, seed: number): Promise<RequestSample[]> {
  const prefix = tokens(seed, 1000);
  // Fill every slot with an unrelated prompt first, so no free slot holds the prefix.
  await Promise.all(Array.from({ length: PARALLEL }, (_, i) => ask(t, tokens(seed + 500 + i, 1050), 1)));
  const holder = new AbortController();
  const held = ask(t, [...prefix, ...tokens(seed + 1, 50)], 900, holder.signal);
  await sleep(3000); // its prefill done: it decodes while the others arrive
  const samples = await Promise.all(Array.from({ length: 16 }, (_, i) => ask(t, [...prefix, ...tokens(seed + 2 + i, 50)])));
  holder.abort();
  await held.catch(() => undefined);
  return samples;
}

/** (d) 24 distinct prompts cycle through 16 slots; the second pass is measured. */
async function cycleBeyondSlots(t: Target, seed: number): Promise<RequestSample[]> {
  const prompts = Array.from({ length: 24 }, (_, i) => tokens(seed + i, 900));
  const pass = async (): Promise<RequestSample[]> => {
    const samples: RequestSample[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let p = prompts[next++]; p !== undefined; p = prompts[next++]) samples.push(await ask(t, p));
      }),
    );
    return samples;
  };
  await pass();
  return pass();
}

const WORKLOADS: Record<string, (t: Target, seed: number) => Promise<RequestSample[]>> = {
  a: sharedSystemPrompt,
  b: multiTurn,
  c: busyPrefix,
  d: cycleBeyondSlots,
};

const list = envList;

function log(line: string): void {
  process.stderr.write(`[prefix] ${line}\n`);
}

async function startEngine(engine: string, cfg: BenchConfig, llamaServer: () => Promise<string>): Promise<BenchServer> {
  if (engine === "llama-server") return startLlamaServer(anchorLlamaServer(await llamaServer(), cfg));
  const flags = ["--parallel", String(PARALLEL), "--ctx-size", String(CTX_SIZE), "--native-build", "never"];
  if (engine === "loom-no-cache") flags.push("--no-prefix-cache");
  // The same 16 slots and cells, over two engine workers: what cache-aware routing keeps of one engine's hit rate.
  else if (engine === "loom-2-engines") flags.splice(0, 4, "--engines", "2", "--parallel", String(PARALLEL / 2), "--ctx-size", String(CTX_SIZE / 2));
  else if (engine !== "loom") throw new Error(`unknown engine ${engine} (want llama-server, loom, loom-no-cache or loom-2-engines)`);
  return startBenchServer(serverFlags(cfg, flags));
}

async function main(): Promise<void> {
  const cfg = benchConfig();
  const engines = list(process.env.LOOM_PREFIX_ENGINES, "llama-server,loom,loom-no-cache");
  const workloads = list(process.env.LOOM_PREFIX_WORKLOADS, "a,b,c,d");
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const llamaServer = async (): Promise<string> => (await ensureLlamaServer(cfg.modelPath)).binary;
  const results: WorkloadResult[] = [];
  for (const engine of engines) {
    log(`starting ${engine}`);
    const server = await startEngine(engine, cfg, llamaServer);
    const target = { url: server.url, model: cfg.modelName };
    try {
      await ask(target, tokens(1, 64)); // warm-up
      for (const [i, w] of workloads.entries()) {
        const run = WORKLOADS[w];
        if (run === undefined) throw new Error(`unknown workload ${w} (want a, b, c or d)`);
        const isLoom = engine !== "llama-server";
        const before = isLoom ? await promptCounters(server.url, cfg.modelName) : null;
        const load = engine === "loom-2-engines" ? sampleWorkerLoad(server.url, cfg.modelName) : null;
        const t0 = performance.now();
        // Each workload has prompts of its own (seeds far apart): nothing carries over between workloads.
        const samples = await run(target, 1_000_000 * (i + 1));
        const wallMs = performance.now() - t0;
        const after = isLoom ? await promptCounters(server.url, cfg.modelName) : null;
        const hitRate = before !== null && after !== null ? (after.cached - before.cached) / Math.max(1, after.prompt - before.prompt) : undefined;
        const r: WorkloadResult = {
          workload: w,
          engine,
          requests: samples.length,
          wallMs,
          ttftMs: percentiles(samples.map((s) => s.ttftMs)),
          ...(hitRate === undefined ? {} : { hitRate }),
          ...(load === null ? {} : { workerLoad: load() }),
        };
        log(
          `(${w}) ${engine}: TTFT p50 ${r.ttftMs.p50.toFixed(0)} ms, p90 ${r.ttftMs.p90.toFixed(0)} ms, ${r.requests} requests in ${(r.wallMs / 1000).toFixed(1)} s` +
            (r.hitRate === undefined ? "" : `, hit rate ${(r.hitRate * 100).toFixed(1)}%`) +
            (r.workerLoad === undefined ? "" : `, worker load ${JSON.stringify(r.workerLoad)}`),
        );
        results.push(r);
      }
    } finally {
      await server.stop();
    }
  }
  const report = { date: new Date().toISOString(), cpu: cpus()[0]?.model ?? "unknown", threads: cfg.threads, threadsBatch: cfg.threadsBatch, retries, results };
  mkdirSync(RESULTS, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  writeFileSync(`${RESULTS}prefix-${stamp}.json`, JSON.stringify(report, null, 2));
  // A partial run (a subset of engines or workloads) must not replace the summary the README quotes.
  const partial = process.env.LOOM_PREFIX_ENGINES !== undefined || process.env.LOOM_PREFIX_WORKLOADS !== undefined;
  writeFileSync(`${RESULTS}prefix-latest${partial ? "-partial" : ""}.md`, renderMarkdown(report));
  process.stdout.write(renderMarkdown(report));
}

function renderMarkdown(r: { date: string; cpu: string; threads: number; threadsBatch: number; results: readonly WorkloadResult[] }): string {
  const p50 = (w: string, e: string): number | undefined => r.results.find((x) => x.workload === w && x.engine === e)?.ttftMs.p50;
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || a <= 0 ? "–" : (b / a).toFixed(1));
  const lines = [
    `# Prefix cache (${r.date}, ${r.cpu}, threads ${r.threads}/${r.threadsBatch}, ${PARALLEL} slots × ${CTX_SIZE / PARALLEL} cells, max_tokens ${MAX_TOKENS})`,
    "",
    "| workload | engine | requests | TTFT p50 ms | TTFT p90 ms | wall s | prompt tokens cached | load per worker |",
    "|---|---|---|---|---|---|---|---|",
    ...r.results.map(
      (x) =>
        `| ${x.workload} | ${x.engine} | ${x.requests} | ${x.ttftMs.p50.toFixed(0)} | ${x.ttftMs.p90.toFixed(0)} | ${(x.wallMs / 1000).toFixed(1)} | ` +
        `${x.hitRate === undefined ? "–" : `${(x.hitRate * 100).toFixed(1)}%`} | ${x.workerLoad === undefined ? "–" : x.workerLoad.join(" / ")} |`,
    ),
    "",
    "| workload | no-cache ÷ Loom (TTFT p50; goal ≥ 5 on a–c) | llama-server ÷ Loom (goal ≥ 2 on a and c, ≥ 1 on b) |",
    "|---|---|---|",
    ...[...new Set(r.results.map((x) => x.workload))].map(
      (w) => `| ${w} | ${ratio(p50(w, "loom"), p50(w, "loom-no-cache"))} | ${ratio(p50(w, "loom"), p50(w, "llama-server"))} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

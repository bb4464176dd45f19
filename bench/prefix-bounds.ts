// `npm run bench:prefix-bounds`: the prefix cache's memory stays bounded and scoped under churn. 1,000 distinct
// 1,000-token prompts (the tiny model: the point is the bookkeeping, not the model) through one Loom server with a
// small host tier, each sent twice (so it has served reuse, and is saved when evicted) under one of 10 cache salts;
// every 50 prompts one earlier prompt is re-sent under its
// own salt (may hit) and under another salt (must report cached_tokens 0). Measured: the server's RSS before and
// after (and the engine process's), the host tier's bytes and entries against its limit (its own gauges, sampled throughout), and every
// cross-salt request's cached tokens. Writes bench/results/prefix-bounds-<date>.json.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Xoshiro128 } from "../models/prng.js";
import { ensureDefaultModel } from "../models/make-synthetic-model.js";
import { setFetchTimeouts } from "./anchor/fetch-timeouts.js";
import { startBenchServer } from "./server-process.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const PROMPTS = Number(process.env.LOOM_BOUNDS_PROMPTS ?? 1000);
const HOST_BYTES = Number(process.env.LOOM_BOUNDS_HOST_BYTES ?? 64 * 1024 * 1024);
const SALTS = 10;
/** --engine-isolation: with "thread" the engine's memory is the server process's own. */
const ISOLATION = process.env.LOOM_BOUNDS_ISOLATION ?? "process";

const tokens = (seed: number, n: number): number[] => {
  const rng = new Xoshiro128(seed);
  return Array.from({ length: n }, () => 300 + (rng.nextU32() % 29_000));
};

async function complete(url: string, prompt: number[], salt: string): Promise<{ cached: number; prompt: number }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", prompt, max_tokens: 1, temperature: 0, cache_salt: salt }),
  });
  const body = (await res.json()) as { usage?: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens: number } } };
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return { cached: body.usage?.prompt_tokens_details?.cached_tokens ?? 0, prompt: body.usage?.prompt_tokens ?? 0 };
}

async function gauges(url: string): Promise<{ bytes: number; entries: number; restores: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const v = (name: string): number =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${name}{model="tiny"}`))
        ?.split(" ")
        .pop() ?? 0,
    );
  return { bytes: v("loom_kv_host_tier_bytes"), entries: v("loom_kv_host_tier_entries"), restores: v("loom_prefix_cache_restores_total") };
}

/** The server process's memory as Node reports it (RSS, V8 heap, external, array buffers). */
async function memory(url: string): Promise<Record<string, number>> {
  const s = (await (await fetch(`${url}/v1/status`)).json()) as { mainThread: { memory: Record<string, number> } };
  return s.mainThread.memory;
}

interface Rss {
  readonly server: number;
  /** The engine's child process (--engine-isolation process, the default); 0 when engines are threads. */
  readonly engine: number;
}

/** RSS of the server process and of the model's engine process. */
async function rssBytes(url: string): Promise<Rss> {
  const s = (await (await fetch(`${url}/v1/status`)).json()) as {
    mainThread: { pid: number };
    models: { workers: { host?: { pid?: number | null } }[] }[];
  };
  const of = (pid: number | null | undefined): number =>
    pid == null ? 0 : Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  const enginePid = s.models[0]?.workers[0]?.host?.pid;
  return { server: of(s.mainThread.pid), engine: enginePid === s.mainThread.pid ? 0 : of(enginePid) };
}

async function main(): Promise<void> {
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const model = await ensureDefaultModel();
  const flags = [
    "--model",
    `tiny=${model}`,
    "--parallel",
    "8",
    "--ctx-size",
    String(8 * 1100),
    "--kv-host-bytes",
    String(HOST_BYTES),
    "--grpc-port",
    "off",
    "--engine-isolation",
    ISOLATION,
  ];
  const server = await startBenchServer(flags);
  const url = server.url;
  const crossSalt: number[] = [];
  const sameSalt: number[] = [];
  let maxBytes = 0;
  let maxEntries = 0;
  try {
    await complete(url, tokens(1, 64), "warm");
    const rssBefore = await rssBytes(url);
    const t0 = performance.now();
    for (let i = 0; i < PROMPTS; i++) {
      // Twice: the second reuses the first, which makes the prompt worth a host-tier file once it is evicted.
      for (let k = 0; k < 2; k++) await complete(url, tokens(1000 + i, 1000), `salt-${i % SALTS}`);
      if (i % 50 === 49) {
        const earlier = i - 1 - (i % 7);
        const prompt = tokens(1000 + earlier, 1000);
        sameSalt.push((await complete(url, prompt, `salt-${earlier % SALTS}`)).cached);
        crossSalt.push((await complete(url, prompt, `salt-${(earlier + 1) % SALTS}`)).cached);
        const g = await gauges(url);
        maxBytes = Math.max(maxBytes, g.bytes);
        maxEntries = Math.max(maxEntries, g.entries);
        const mem = await memory(url);
        const mib = (n: number | undefined): string => ((n ?? 0) / 2 ** 20).toFixed(1);
        process.stderr.write(
          `[bounds] ${i + 1}/${PROMPTS}: host tier ${mib(g.bytes)} MiB in ${g.entries} entries, RSS ${mib((await rssBytes(url)).server)} MiB, engine RSS ${mib((await rssBytes(url)).engine)} MiB ` +
            `(heap ${mib(mem["heapUsed"])}/${mib(mem["heapTotal"])}, external ${mib(mem["external"])}, array buffers ${mib(mem["arrayBuffers"])})\n`,
        );
      }
    }
    const wallMs = performance.now() - t0;
    const rssAfter = await rssBytes(url);
    const g = await gauges(url);
    const report = {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model ?? "unknown",
      prompts: PROMPTS,
      engineIsolation: ISOLATION,
      promptTokens: 1000,
      salts: SALTS,
      hostTierLimitBytes: HOST_BYTES,
      hostTierMaxBytes: maxBytes,
      hostTierMaxEntries: maxEntries,
      hostTierFinal: g,
      rssBeforeBytes: rssBefore.server,
      rssAfterBytes: rssAfter.server,
      engineRssBeforeBytes: rssBefore.engine,
      engineRssAfterBytes: rssAfter.engine,
      crossSaltCachedTokens: { requests: crossSalt.length, max: Math.max(0, ...crossSalt) },
      sameSaltCachedTokens: { requests: sameSalt.length, hits: sameSalt.filter((c) => c > 0).length },
      wallMs,
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(`${RESULTS}prefix-bounds-${report.date.replace(/[:.]/g, "-")}.json`, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (maxBytes > HOST_BYTES || Math.max(0, ...crossSalt) > 0) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

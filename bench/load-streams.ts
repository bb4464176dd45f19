// `npm run bench:load`: 1,000 concurrent SSE streams on the tiny model (issue "Hardening", load). Every client opens
// its stream at once; a fifth of them disconnect on purpose, spread over every phase (before the response headers,
// after the first token, mid-stream). Checked: only 200/429/503 answers; the server's event-loop lag (its own
// histogram, /v1/status) under the load; how long after the last client every slot and request is free; the RSS of
// the server and its engine process before, right after, and after 10 s idle. Env: LOOM_LOAD_STREAMS=1000
// LOOM_LOAD_DISCONNECT=0.2. Writes bench/results/load-<date>.json and load-latest.md.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDefaultModel } from "../models/make-synthetic-model.js";
import { sleep } from "./load-generator.js";
import { startBenchServer } from "./server-process.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const STREAMS = Number(process.env.LOOM_LOAD_STREAMS ?? 1000);
const DISCONNECT = Number(process.env.LOOM_LOAD_DISCONNECT ?? 0.2);
const MODEL = "tiny";
/** Rounds of the whole load: RSS that grows round after round is a leak; RSS that stays at the first round's is retained. */
const ROUNDS = Number(process.env.LOOM_LOAD_ROUNDS ?? 3);

type Phase = "none" | "before-headers" | "after-first-token" | "mid-stream";

interface Outcome {
  readonly status: number | "aborted-before-headers" | "network-error";
  readonly phase: Phase;
  readonly tokens: number;
}

interface Status {
  readonly mainThread: { readonly pid: number; readonly eventLoopDelayMs: { p50: number; p99: number; max: number }; readonly memory: { rss: number } };
  readonly models: readonly { readonly workers: readonly { inFlight: number; host: { pid: number | null }; stats: { slotsBusy: number } | null }[] }[];
}

async function status(url: string): Promise<Status> {
  return (await (await fetch(`${url}/v1/status`)).json()) as Status;
}

/** Resident set of a process in bytes, from /proc (Linux). */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

function phaseFor(i: number): Phase {
  // Deterministic spread: every 1/DISCONNECT-th client disconnects, cycling through the phases.
  const every = Math.max(1, Math.round(1 / DISCONNECT));
  if (DISCONNECT <= 0 || i % every !== 0) return "none";
  const phases: Phase[] = ["before-headers", "after-first-token", "mid-stream"];
  return phases[(i / every) % phases.length] as Phase;
}

async function oneStream(url: string, i: number): Promise<Outcome> {
  const phase = phaseFor(i);
  const ac = new AbortController();
  const maxTokens = 16 + (i % 49);
  const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `client ${i}: tell me something` }], max_tokens: maxTokens, stream: true });
  if (phase === "before-headers") setTimeout(() => ac.abort(), 5 + (i % 50));
  let tokens = 0;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: ac.signal });
    if (res.body === null) return { status: res.status, phase, tokens };
    for await (const chunk of res.body) {
      if (String(Buffer.from(chunk as Uint8Array)).includes('"content"')) tokens++;
      if ((phase === "after-first-token" && tokens >= 1) || (phase === "mid-stream" && tokens >= maxTokens / 2)) {
        ac.abort();
        break;
      }
    }
    return { status: res.status, phase, tokens };
  } catch {
    if (ac.signal.aborted) return { status: tokens > 0 ? 200 : "aborted-before-headers", phase, tokens };
    return { status: "network-error", phase, tokens };
  }
}

async function main(): Promise<void> {
  // Node's fetch opens as many connections per origin as there are requests (no pool limit): one per stream.
  const model = await ensureDefaultModel();
  const server = await startBenchServer(["--model", `${MODEL}=${model}`, "--grpc-port", "off", "--threads", "1", "--threads-batch", "2"]);
  try {
    for (let i = 0; i < 3; i++) await oneStream(server.url, 1);
    const s0 = await status(server.url);
    const serverPid = s0.mainThread.pid;
    const enginePid = s0.models[0]?.workers[0]?.host.pid ?? serverPid;
    const before = { server: rssOf(serverPid), engine: rssOf(enginePid) };

    const rounds: { wallMs: number; freeMs: number; afterLoad: typeof before; idle: typeof before; outcomes: Outcome[] }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const outcomes = await Promise.all(Array.from({ length: STREAMS }, (_, i) => oneStream(server.url, i)));
      const wallMs = performance.now() - t0;
      const afterLoad = { server: rssOf(serverPid), engine: rssOf(enginePid) };
      const freeAt = performance.now();
      let freeMs = -1;
      while (performance.now() - freeAt < 10_000) {
        const w = (await status(server.url)).models.flatMap((m) => m.workers);
        if (w.every((x) => x.inFlight === 0 && (x.stats?.slotsBusy ?? 0) === 0)) {
          freeMs = performance.now() - freeAt;
          break;
        }
        await sleep(5);
      }
      await sleep(10_000);
      rounds.push({ wallMs, freeMs, afterLoad, idle: { server: rssOf(serverPid), engine: rssOf(enginePid) }, outcomes });
      process.stdout.write(
        `round ${round + 1}: ${(wallMs / 1000).toFixed(1)} s, server RSS ${((rounds[round]?.idle.server ?? 0) / 2 ** 20).toFixed(1)} MiB, engine ${((rounds[round]?.idle.engine ?? 0) / 2 ** 20).toFixed(1)} MiB\n`,
      );
    }
    const lag = (await status(server.url)).mainThread.eventLoopDelayMs;
    const outcomes = rounds.flatMap((r) => r.outcomes);
    const wallMs = rounds.reduce((n, r) => n + r.wallMs, 0) / rounds.length;
    const freeMs = Math.max(...rounds.map((r) => r.freeMs));
    const afterLoad = rounds[0]?.afterLoad ?? before;
    const idle = rounds[rounds.length - 1]?.idle ?? before;

    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
    const byPhase: Record<string, number> = {};
    for (const o of outcomes) byPhase[o.phase] = (byPhase[o.phase] ?? 0) + 1;
    const unexpected = outcomes.filter((o) => typeof o.status === "number" && ![200, 429, 503].includes(o.status)).length;
    const networkErrors = counts["network-error"] ?? 0;
    const when = new Date().toISOString().replace(/[:.]/g, "-");
    const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
    const report = [
      `# ${STREAMS} concurrent SSE streams, ${ROUNDS} rounds (${when}, ${cpus()[0]?.model ?? "cpu"} × ${cpus().length})`,
      "",
      `tiny model, default flags (--parallel 16, --max-queue 256, engine process); ${(DISCONNECT * 100).toFixed(0)}% of clients disconnect on purpose.`,
      "",
      `| measure | value |`,
      `|---|---|`,
      `| answers (all rounds) | ${Object.entries(counts)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ")} |`,
      `| other statuses (not 200/429/503) | ${unexpected} |`,
      `| network errors (not our own aborts) | ${networkErrors} |`,
      `| disconnect phases | ${Object.entries(byPhase)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ")} |`,
      `| wall time per round (mean) | ${(wallMs / 1000).toFixed(1)} s |`,
      `| server event-loop lag p50 / p99 / max (whole run) | ${lag.p50.toFixed(1)} / ${lag.p99.toFixed(1)} / ${lag.max.toFixed(1)} ms |`,
      `| every slot and request free after the last client (worst round) | ${rounds.some((r) => r.freeMs < 0) ? "not within 10 s" : `${freeMs.toFixed(0)} ms`} |`,
      `| server RSS before / after round 1 / idle after each round | ${mib(before.server)} / ${mib(afterLoad.server)} / ${rounds.map((r) => mib(r.idle.server)).join(", ")} MiB |`,
      `| engine process RSS before / after round 1 / idle after each round | ${mib(before.engine)} / ${mib(afterLoad.engine)} / ${rounds.map((r) => mib(r.idle.engine)).join(", ")} MiB |`,
      "",
    ].join("\n");
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      join(RESULTS, `load-${when}.json`),
      JSON.stringify(
        {
          when,
          streams: STREAMS,
          rounds: rounds.map((r) => ({ wallMs: r.wallMs, freeMs: r.freeMs, afterLoad: r.afterLoad, idle: r.idle })),
          counts,
          byPhase,
          unexpected,
          networkErrors,
          lag,
          before,
          idle,
        },
        null,
        2,
      ),
    );
    writeFileSync(join(RESULTS, "load-latest.md"), report);
    process.stdout.write(report);
  } finally {
    await server.stop();
  }
}

await main();

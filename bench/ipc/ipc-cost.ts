// `npm run bench:ipc`: the per-step message cost of an engine process against a worker thread, measured directly
// (the tok/s comparison of bench:isolation is within its own run-to-run noise on this machine). A sender sends
// 4,000 step messages shaped as the engine's (16 and 64 streams); measured: wall time per message and the CPU time
// both sides spend per message (a thread's is its process's; a process's is the sender's plus the server's). The cost per step is then set against a step's measured duration (bench/results).
// Writes bench/results/ipc-<date>.json and ipc-latest.md.

import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const SENDER = new URL("./ipc-sender.js", import.meta.url);
const COUNT = 4_000;
const REPEATS = 5;

interface Measured {
  readonly host: "thread" | "process";
  readonly streams: number;
  readonly wallUsPerMsg: number;
  /** CPU of both sides per message: one process's for a thread (process.cpuUsage counts every thread). */
  readonly cpuUsPerMsg: number;
}

function receive(host: "thread" | "process", streams: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const job = { streams, count: COUNT };
    // Measured from the first message on: the worker's or child's start-up is not part of the cost per message.
    let t0 = 0;
    let cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };
    let received = 0;
    const onMessage = (m: { type: string; cpuUs?: number; events?: unknown[] }): void => {
      if (m.type === "flushed") return;
      if (m.type === "step") {
        if (received === 0) {
          t0 = performance.now();
          cpu0 = process.cpuUsage();
        }
        received += (m.events?.length ?? 0) > 0 ? 1 : 0;
        return;
      }
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (received !== COUNT) reject(new Error(`received ${received} of ${COUNT}`));
      const measured = COUNT - 1;
      resolve({
        host,
        streams,
        wallUsPerMsg: (wall * 1000) / measured,
        // A thread's CPU is its process's (both sides); a child's is added from its own count (its sends only).
        cpuUsPerMsg: (cpu.user + cpu.system) / measured + (host === "process" ? (m.cpuUs ?? 0) / COUNT : 0),
      });
    };
    if (host === "thread") {
      const w = new Worker(SENDER, { workerData: job });
      w.on("message", (m: { type: string; cpuUs?: number }) => {
        onMessage(m);
        if (m.type === "done") void w.terminate();
      });
      w.on("error", reject);
    } else {
      const child = fork(fileURLToPath(SENDER), [JSON.stringify(job)], { serialization: "advanced", execArgv: [] });
      child.on("message", onMessage);
      child.on("error", reject);
    }
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const all: Measured[] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (const streams of [16, 64]) for (const host of ["thread", "process"] as const) all.push(await receive(host, streams));
  }
  const when = new Date().toISOString().replace(/[:.]/g, "-");
  const rows: string[] = [];
  for (const streams of [16, 64]) {
    for (const host of ["thread", "process"] as const) {
      const of = all.filter((m) => m.host === host && m.streams === streams);
      const f = (k: keyof Measured): string => median(of.map((m) => m[k] as number)).toFixed(1);
      rows.push(`| ${streams} | ${host} | ${f("wallUsPerMsg")} | ${f("cpuUsPerMsg")} |`);
    }
  }
  const report = [
    `# Engine step message cost, thread vs process (${when}, ${cpus()[0]?.model ?? "cpu"} × ${cpus().length})`,
    "",
    `${COUNT} step messages shaped as the engine's, one per event-loop turn; median of ${REPEATS} runs. µs per message.`,
    "",
    "| streams | host | wall per message | CPU per message, both sides |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `ipc-${when}.json`), JSON.stringify({ when, runs: all }, null, 2));
  writeFileSync(join(RESULTS, "ipc-latest.md"), report);
  process.stdout.write(report);
}

await main();

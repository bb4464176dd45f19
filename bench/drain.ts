// `npm run bench:drain`: SIGTERM under load (issue "Hardening", drain), three runs on the tiny model:
//   finish: 48 streams in flight (16 running, 32 queued), each short enough to end within --drain-timeout 10;
//   cut:    16 endless streams and --drain-timeout 2: each must end with an `unavailable` error event at the limit;
//   second: a second signal during the drain stops the server at once.
// Measured from the signal: when /ready stops answering 200, what new requests get, how every in-flight request
// ended, and when and how the process exited. Writes bench/results/drain-<date>.json and drain-latest.md.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDefaultModel } from "../models/make-synthetic-model.js";
import { sleep } from "./load-generator.js";
import { startBenchServer, type BenchServer } from "./server-process.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const MODEL = "tiny";

interface RunResult {
  readonly name: string;
  readonly inFlight: number;
  /** How each in-flight request ended: "finished", or the error code its stream carried. */
  readonly endings: Record<string, number>;
  readonly lastEndingMs: number;
  readonly notReadyAfterMs: number | null;
  /** What requests sent after the signal got (status, or "refused" once the port is closed). */
  readonly newRequests: Record<string, number>;
  readonly exit: { readonly code: number | null; readonly signal: string | null; readonly afterMs: number };
}

async function stream(url: string, maxTokens: number, i: number): Promise<string> {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `drain ${i}` }], max_tokens: maxTokens, ignore_eos: true, stream: true }),
    });
    if (res.status !== 200) return `status ${res.status}`;
    let tail = "";
    for await (const chunk of res.body ?? []) tail = (tail + Buffer.from(chunk as Uint8Array).toString()).slice(-600);
    const code = /"error":\{[^}]*"code":"([a-z_]+)"/.exec(tail)?.[1];
    if (code !== undefined) return code;
    return tail.includes('"finish_reason":"length"') ? "finished" : "truncated";
  } catch {
    return "connection lost";
  }
}

async function run(name: string, flags: readonly string[], streams: number, maxTokens: number, secondSignalAfterMs: number | null): Promise<RunResult> {
  const model = await ensureDefaultModel();
  const server: BenchServer = await startBenchServer([
    "--model",
    `${MODEL}=${model}`,
    "--grpc-port",
    "off",
    "--threads",
    "1",
    "--threads-batch",
    "2",
    ...flags,
  ]);
  const endings: Record<string, number> = {};
  const newRequests: Record<string, number> = {};
  let lastEnding = 0;
  const inFlight = Array.from({ length: streams }, (_, i) =>
    stream(server.url, maxTokens, i).then((e) => {
      endings[e] = (endings[e] ?? 0) + 1;
      lastEnding = performance.now();
    }),
  );
  await sleep(1_000);
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
    server.process.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const t0 = performance.now();
  server.process.kill("SIGTERM");
  if (secondSignalAfterMs !== null) setTimeout(() => server.process.kill("SIGINT"), secondSignalAfterMs);
  let notReadyAfterMs: number | null = null;
  let gone = false;
  void exited.then(() => (gone = true));
  const probes = (async () => {
    while (!gone) {
      try {
        const ready = await fetch(`${server.url}/ready`);
        if (ready.status !== 200 && notReadyAfterMs === null) notReadyAfterMs = performance.now() - t0;
        const res = await fetch(`${server.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, prompt: "new", max_tokens: 2 }),
        });
        await res.text();
        newRequests[`status ${res.status}`] = (newRequests[`status ${res.status}`] ?? 0) + 1;
      } catch {
        if (notReadyAfterMs === null) notReadyAfterMs = performance.now() - t0;
        newRequests["refused"] = (newRequests["refused"] ?? 0) + 1;
      }
      await sleep(25);
    }
  })();
  const exit = await exited;
  await Promise.all([...inFlight, probes]);
  const result: RunResult = {
    name,
    inFlight: streams,
    endings,
    lastEndingMs: lastEnding - t0,
    notReadyAfterMs,
    newRequests,
    exit: { code: exit.code, signal: exit.signal, afterMs: exit.at - t0 },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result;
}

function render(results: readonly RunResult[], when: string): string {
  const kv = (r: Record<string, number>): string =>
    Object.entries(r)
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
  const lines = [
    `# SIGTERM under load (${when}, ${cpus()[0]?.model ?? "cpu"} × ${cpus().length})`,
    "",
    "Times from the signal. tiny model, engine process, 16 slots.",
    "",
    "| run | in flight | how they ended | last ended | /ready not 200 after | new requests got | exit |",
    "|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.inFlight} | ${kv(r.endings)} | ${(r.lastEndingMs / 1000).toFixed(2)} s | ${r.notReadyAfterMs === null ? "never" : `${r.notReadyAfterMs.toFixed(0)} ms`} | ${kv(r.newRequests)} | ${r.exit.signal ?? `code ${r.exit.code}`} after ${(r.exit.afterMs / 1000).toFixed(2)} s |`,
    ),
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const results = [
    await run("finish: 48 streams of 150 tokens, --drain-timeout 10", ["--drain-timeout", "10"], 48, 150, null),
    await run("cut: 16 streams of 4,000 tokens, --drain-timeout 2", ["--drain-timeout", "2"], 16, 4_000, null),
    await run("second signal 300 ms into the drain", ["--drain-timeout", "10"], 16, 4_000, 300),
  ];
  const when = new Date().toISOString().replace(/[:.]/g, "-");
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `drain-${when}.json`), JSON.stringify({ when, results }, null, 2));
  const report = render(results, when);
  writeFileSync(join(RESULTS, "drain-latest.md"), report);
  process.stdout.write(report);
}

await main();

// `npm run bench:narrow-prefill`: what a prompt chunk narrower than CPU flash attention's 64-row tile costs, measured
// on Loom's own executor (LlamaBackend.step, the bench model, threads as the bench config). Per context length: one
// sequence computing 16 / 32 / 48 / 64 / 80 / 128 rows after that many cached tokens (the rows are erased and
// recomputed, median of 5), and seven sequences in consecutive slots at once (one forward pass). The fit behind
// runtime/narrow-prefill-cost.ts: the one-row path's extra ms per row and cell over the tiled path, divided by a
// prefill token's ms. Env: LOOM_NARROW_CONTEXTS=256,512,1024. Writes bench/results/narrow-prefill-<date>.json.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import type { KvOp, StepEntry } from "../src/runtime/step-plan.js";
import { benchConfig, envList } from "./bench-config.js";
import { loadExecutorProbe } from "./executor-probe.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const ROWS = [16, 32, 48, 64, 80, 128];
const SEVEN = [1, 2, 3, 4, 5, 6, 7];
const REPEATS = 5;

const tokens = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => 300 + ((i * 7919 + seed * 31) % 20_000));
const median = (a: readonly number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] ?? Number.NaN;

async function main(): Promise<void> {
  const cfg = benchConfig();
  const contexts = envList(process.env.LOOM_NARROW_CONTEXTS, "256,512,1024").map(Number);
  const top = Math.max(...contexts);
  const { backend, timed: run } = await loadExecutorProbe(cfg, { slots: 8, slotContextSize: top + 256, ubatchSize: 512, flashAttn: "auto" });
  const entry = (slot: number, start: number, n: number): StepEntry => ({
    seqId: `s${slot}`,
    slot,
    start,
    tokens: tokens(n, slot * 7 + start),
    sampleAt: [],
    outputIndex: 0,
  });
  const eraseFrom = (slots: readonly number[], from: number): KvOp[] => slots.map((slot) => ({ kind: "erase", slot, from, to: null }));
  try {
    let prefillMs = 0;
    for (const slot of [0, ...SEVEN]) for (let at = 0; at < top; at += 512) prefillMs += await run([entry(slot, at, Math.min(512, top - at))]);
    const prefillTokenMs = prefillMs / (8 * top);
    const rows: { context: number; rows: number; oneMs: number; sevenMs: number }[] = [];
    // Longest context first: each erase then leaves exactly `context` cached tokens in every slot.
    for (const context of [...contexts].sort((a, b) => b - a)) {
      for (const n of ROWS) {
        const one: number[] = [];
        const seven: number[] = [];
        for (let i = 0; i < REPEATS; i++) {
          one.push(await run([entry(0, context, n)], eraseFrom([0], context)));
          seven.push(
            await run(
              SEVEN.map((s) => entry(s, context, n)),
              eraseFrom(SEVEN, context),
            ),
          );
        }
        rows.push({ context, rows: n, oneMs: median(one), sevenMs: median(seven) });
        process.stderr.write(`[narrow-prefill] ${JSON.stringify(rows[rows.length - 1])}\n`);
      }
    }
    const at = (c: number, n: number): number => (rows.find((r) => r.context === c && r.rows === n)?.oneMs ?? Number.NaN) / n;
    const extraPerCellMs = contexts.map((c) => (at(c, 48) - at(c, 64)) / c);
    const penaltyPerCell = median(extraPerCellMs) / prefillTokenMs;
    const date = new Date().toISOString();
    const report = { date, cpu: cpus()[0]?.model, model: cfg.modelPath, prefillTokenMs, penaltyPerCell, info: backend.info.narrowPrefillPenaltyPerCell, rows };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(`${RESULTS}narrow-prefill-${date.replace(/[:.]/g, "-")}.json`, `${JSON.stringify(report, null, 2)}\n`);
    const lines = [
      `# Narrow prompt chunks (${date}, ${report.cpu ?? "unknown"}), ms: one sequence / seven at once`,
      "",
      `| context | ${ROWS.map((n) => `${n} rows`).join(" | ")} |`,
      `|---|${ROWS.map(() => "---").join("|")}|`,
      ...contexts.map(
        (c) =>
          `| ${c} | ${ROWS.map((n) => rows.find((r) => r.context === c && r.rows === n))
            .map((r) => `${r?.oneMs.toFixed(0)} / ${r?.sevenMs.toFixed(0)}`)
            .join(" | ")} |`,
      ),
      "",
      `Prefill token ${prefillTokenMs.toFixed(2)} ms; measured penalty ${penaltyPerCell.toExponential(2)} tokens per row and cell (48 against 64 rows); the backend's model says ${report.info?.toExponential(2)}.`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  } finally {
    await backend.dispose();
  }
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench:narrow-prefill failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });

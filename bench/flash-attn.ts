// `npm run bench:flash-attn`: what llama.cpp's flash attention costs or saves on this machine, per context length,
// for prompt prefill and for decode (1 and 8 sequences), measured on Loom's own executor (LlamaBackend.step, the
// bench model, threads as the bench config). Each (setting, context) runs in a fresh process, on and off alternating,
// LOOM_FA_ROUNDS rounds (default 2), so a slow process start or a slow minute hits both settings alike.
// Env: LOOM_FA_CONTEXTS=128,384,1024,2000. Writes bench/results/flash-attn-<date>.json and prints a table.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import type { StepEntry } from "../src/runtime/step-plan.js";
import { benchConfig, envList } from "./bench-config.js";
import { loadExecutorProbe } from "./executor-probe.js";

const RESULTS = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const ROUNDS = Number(process.env.LOOM_FA_ROUNDS ?? 2);
/** Sequences prefilled to the context: one decodes alone, eight decode together. */
const SEQUENCES = 9;
const DECODE_STEPS = 40;
const CHUNK = 512;

interface Sample {
  readonly flashAttn: "on" | "off";
  readonly context: number;
  readonly prefillMsPerToken: number;
  readonly decode1Ms: number;
  readonly decode8Ms: number;
}

const tokens = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => 300 + ((i * 7919 + seed * 31) % 20_000));
const median = (a: readonly number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] ?? Number.NaN;

/** One process: prefill SEQUENCES sequences to `context` tokens, then time decode steps at that context. */
async function measure(flashAttn: "on" | "off", context: number): Promise<Sample> {
  const cfg = benchConfig();
  const { backend, timed } = await loadExecutorProbe(cfg, { slots: SEQUENCES, slotContextSize: context + DECODE_STEPS + 256, ubatchSize: CHUNK, flashAttn });
  const entry = (slot: number, start: number, toks: number[]): StepEntry => ({ seqId: `s${slot}`, slot, start, tokens: toks, sampleAt: [], outputIndex: 0 });
  try {
    let prefillMs = 0;
    for (let slot = 0; slot < SEQUENCES; slot++) {
      for (let at = 0; at < context; at += CHUNK) prefillMs += await timed([entry(slot, at, tokens(Math.min(CHUNK, context - at), slot * 1000 + at))]);
    }
    const one: number[] = [];
    const eight: number[] = [];
    for (let i = 0; i < DECODE_STEPS; i++) {
      one.push(await timed([entry(0, context + i, [400 + i])]));
      eight.push(await timed(Array.from({ length: 8 }, (_, k) => entry(k + 1, context + i, [400 + i]))));
    }
    return { flashAttn, context, prefillMsPerToken: prefillMs / (SEQUENCES * context), decode1Ms: median(one), decode8Ms: median(eight) };
  } finally {
    await backend.dispose();
  }
}

function child(flashAttn: "on" | "off", context: number): Sample {
  const out = execFileSync(process.execPath, [SELF, "--child", flashAttn, String(context)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.trim().split("\n").pop() as string) as Sample;
}

function main(): void {
  const contexts = envList(process.env.LOOM_FA_CONTEXTS, "128,384,1024,2000").map(Number);
  const samples: Sample[] = [];
  for (const context of contexts) {
    for (let r = 0; r < ROUNDS; r++) {
      for (const fa of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
        const s = child(fa, context);
        process.stderr.write(`[flash-attn] ${JSON.stringify(s)}\n`);
        samples.push(s);
      }
    }
  }
  const mean = (ctx: number, fa: string, pick: (s: Sample) => number): number => {
    const of = samples.filter((s) => s.context === ctx && s.flashAttn === fa).map(pick);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const cell = (ctx: number, pick: (s: Sample) => number, digits: number): string =>
    `${mean(ctx, "on", pick).toFixed(digits)} / ${mean(ctx, "off", pick).toFixed(digits)} (${(mean(ctx, "off", pick) / mean(ctx, "on", pick)).toFixed(2)})`;
  const lines = [
    `# Flash attention on / off (off ÷ on) (${new Date().toISOString()}, ${cpus()[0]?.model ?? "unknown"}, ${ROUNDS} rounds)`,
    "",
    "| context | prefill ms/token | decode 1 sequence ms/step | decode 8 sequences ms/step |",
    "|---|---|---|---|",
    ...contexts.map((c) => `| ${c} | ${cell(c, (s) => s.prefillMsPerToken, 2)} | ${cell(c, (s) => s.decode1Ms, 1)} | ${cell(c, (s) => s.decode8Ms, 1)} |`),
    "",
  ];
  const date = new Date().toISOString();
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    `${RESULTS}flash-attn-${date.replace(/[:.]/g, "-")}.json`,
    `${JSON.stringify({ date, cpu: cpus()[0]?.model, rounds: ROUNDS, samples }, null, 2)}\n`,
  );
  process.stdout.write(lines.join("\n"));
}

if (process.argv[2] === "--child") {
  measure(process.argv[3] === "on" ? "on" : "off", Number(process.argv[4]))
    .then((s) => {
      process.stdout.write(`${JSON.stringify(s)}\n`);
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
} else {
  main();
}

// `npm run bench:spec`: speculative decoding, Loom against llama-server (built as the anchor: same kernels, model
// files, threads, slots and context), each with speculation off and on, in one run. Rows:
//   draft eps 0.02 / eps 0.1: `target` presets (the `draft` model plus 10 layers whose residual writes are scaled by
//     eps: the smaller eps, the more the target agrees with its draft), the `draft` preset as draft model;
//   ngram, copy workload: the `margin` preset (its head maps a token to a fixed successor) with prompts that already
//     hold the chain the output continues, as code edits and quoting do; llama-server's ngram-simple;
//   ngram, nothing to copy: the bench model and random prompts: speculation on must cost nothing.
// Each cell: 1 stream (6 requests back to back) and 8 streams (8 clients × 3 requests), 128 greedy tokens each
// (ignore_eos), token-id prompts; tok/s = completion tokens ÷ wall time. Loom's speed-up (on ÷ off) should be at least
// llama-server's in every row, and at least 0.97 where neither gains. Env: LOOM_SPEC_ROWS=draft-0.02,draft-0.1,ngram,none
// LOOM_SPEC_ENGINES=loom,loom-1p,llama-server (loom-1p: on and off in one Loom process) LOOM_SPEC_LOOM_FLAGS="--flag value". Writes bench/results/spec-<date>.json and spec-latest.md.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeSyntheticModel, type PresetName } from "../../models/make-synthetic-model.js";
import { Xoshiro128 } from "../../models/prng.js";
import { generatedDir } from "../../models/vocab-source.js";
import { benchConfig, envList } from "../bench-config.js";
import { VOCAB_LOW, VOCAB_SPAN } from "../load-generator.js";
import { startBenchServer, type BenchServer } from "../server-process.js";
import { ensureLlamaServer } from "./build-llama-server.js";
import { setFetchTimeouts } from "./fetch-timeouts.js";
import { startLlamaServer } from "./llama-server-process.js";
import { CTX_SIZE, PARALLEL } from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
const MAX_TOKENS = 128;
const REPEATS = Number(process.env.LOOM_SPEC_REPEATS ?? 2);
/** Extra Loom flags for an A/B of a setting (LOOM_SPEC_LOOM_FLAGS="--sampling-threads 2"). */
const LOOM_FLAGS = (process.env.LOOM_SPEC_LOOM_FLAGS ?? "").split(" ").filter((f) => f !== "");

interface Row {
  readonly name: string;
  readonly target: { readonly preset: PresetName; readonly eps?: number };
  readonly draft: PresetName | null;
  readonly prompt: (seed: number) => number[];
  /** Loom's and llama-server's flags for speculation on. */
  readonly loomOn: readonly string[];
  readonly anchorOn: (draftPath: string | null) => string[];
}

function random(seed: number, n: number): number[] {
  const rng = new Xoshiro128(seed);
  return Array.from({ length: n }, () => VOCAB_LOW + (rng.nextU32() % VOCAB_SPAN));
}

/** The margin head's successor chain from a seeded start, 300 tokens, then its first 10 again: the output copies it. */
function copyPrompt(seed: number): number[] {
  const chain = [VOCAB_LOW + (new Xoshiro128(seed).nextU32() % VOCAB_SPAN)];
  while (chain.length < 300) chain.push(((chain[chain.length - 1] as number) * 7919 + 13) % 32000);
  return [...chain, ...chain.slice(0, 10)];
}

const draftRow = (eps: number): Row => ({
  name: `draft-${eps}`,
  target: { preset: "target", eps },
  draft: "draft",
  prompt: (seed) => random(seed, 64),
  loomOn: ["--spec-type", "draft"],
  anchorOn: (d) => ["-md", d as string, "--spec-type", "draft-simple"],
});

const ROWS: Record<string, Row> = {
  "draft-0.02": draftRow(0.02),
  "draft-0.1": draftRow(0.1),
  ngram: {
    name: "ngram",
    target: { preset: "margin" },
    draft: null,
    prompt: copyPrompt,
    loomOn: ["--spec-type", "ngram"],
    anchorOn: () => ["--spec-type", "ngram-simple"],
  },
  none: {
    name: "none",
    target: { preset: "bench" },
    draft: null,
    prompt: (seed) => random(seed, 64),
    loomOn: ["--spec-type", "ngram"],
    anchorOn: () => ["--spec-type", "ngram-simple"],
  },
};

async function modelPath(preset: PresetName, eps?: number): Promise<string> {
  const path = join(generatedDir(), `${preset}${eps === undefined ? "" : `-eps${eps}`}.gguf`);
  if (!existsSync(path)) await makeSyntheticModel({ preset, outPath: path, ...(eps === undefined ? {} : { eps }) });
  return path;
}

interface Measured {
  readonly tokPerS: number;
  readonly tokens: number;
  readonly wallMs: number;
}

/** Extra request fields: `{ speculative: false }` turns speculation off for one request of a Loom server. */
type Extra = Readonly<Record<string, unknown>>;

async function complete(url: string, prompt: number[], extra: Extra): Promise<{ tokens: number; drafted: number; accepted: number }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "target", prompt, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true, ...extra }),
  });
  const body = (await res.json()) as { usage?: { completion_tokens?: number }; timings?: { draft_n?: number; draft_n_accepted?: number } };
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return { tokens: body.usage?.completion_tokens ?? 0, drafted: body.timings?.draft_n ?? 0, accepted: body.timings?.draft_n_accepted ?? 0 };
}

/** `streams` clients × `rounds` requests each; distinct prompts per request. */
async function measure(
  url: string,
  row: Row,
  streams: number,
  rounds: number,
  counts: { drafted: number; accepted: number },
  extra: Extra = {},
): Promise<Measured> {
  const t0 = performance.now();
  let tokens = 0;
  await Promise.all(
    Array.from({ length: streams }, async (_, c) => {
      for (let r = 0; r < rounds; r++) {
        const out = await complete(url, row.prompt(1000 + 37 * c + r), extra);
        tokens += out.tokens;
        counts.drafted += out.drafted;
        counts.accepted += out.accepted;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  return { tokPerS: (tokens * 1000) / wallMs, tokens, wallMs };
}

async function loomCounts(url: string): Promise<{ drafted: number; accepted: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (name: string): number =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${name}{`))
      .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
  return { drafted: sum("loom_spec_decode_draft_tokens_total"), accepted: sum("loom_spec_decode_accepted_tokens_total") };
}

interface Cell {
  readonly row: string;
  readonly engine: string;
  readonly speculation: boolean;
  readonly oneStream: Measured;
  readonly eightStreams: Measured;
  readonly drafted: number;
  readonly accepted: number;
}

async function startLoom(row: Row, on: boolean): Promise<BenchServer> {
  const cfg = benchConfig();
  const target = await modelPath(row.target.preset, row.target.eps);
  const draft = row.draft === null ? null : await modelPath(row.draft);
  const sizes = ["--parallel", String(PARALLEL), "--ctx-size", String(CTX_SIZE)];
  const threads = ["--threads", String(cfg.threads), "--threads-batch", String(cfg.threadsBatch)];
  const spec = on ? [...(draft === null ? [] : ["--spec-draft-model", draft]), ...row.loomOn] : ["--spec-type", "none"];
  return startBenchServer(["--model", `target=${target}`, ...threads, ...sizes, "--grpc-port", "off", ...spec, ...LOOM_FLAGS]);
}

async function runCell(engine: string, row: Row, on: boolean, anchorBinary: () => Promise<string>): Promise<Cell> {
  const cfg = benchConfig();
  const target = await modelPath(row.target.preset, row.target.eps);
  const draft = row.draft === null ? null : await modelPath(row.draft);
  let server: BenchServer;
  if (engine === "loom") {
    server = await startLoom(row, on);
  } else {
    const extraArgs = ["--alias", "target", ...(on ? row.anchorOn(draft) : [])];
    server = await startLlamaServer({
      binary: await anchorBinary(),
      modelPath: target,
      threads: cfg.threads,
      threadsBatch: cfg.threadsBatch,
      parallel: PARALLEL,
      ctxSize: CTX_SIZE,
      extraArgs,
    });
  }
  try {
    const counts = { drafted: 0, accepted: 0 };
    await measure(server.url, row, 1, 1, { drafted: 0, accepted: 0 }); // warm-up
    const before = engine === "loom" ? await loomCounts(server.url) : null;
    const oneStream = await measure(server.url, row, 1, 6, counts);
    const eightStreams = await measure(server.url, row, 8, 3, counts);
    if (before !== null) {
      const after = await loomCounts(server.url);
      counts.drafted = after.drafted - before.drafted;
      counts.accepted = after.accepted - before.accepted;
    }
    return { row: row.name, engine, speculation: on, oneStream, eightStreams, ...counts };
  } finally {
    await server.stop();
  }
}

/**
 * `loom-1p`: one Loom server started with speculation on; requests with `speculative: false` are its "off". Off and
 * on alternate inside the one process (1 stream off, on; 8 streams off, on; the other order on odd repeats, as a
 * process's later minutes ran a few percent faster than its first), so the step-time level a process start happens
 * to get (medians 41-51 ms for the same 8-sequence step across starts here) is shared by both.
 */
async function runLoomOneProcess(row: Row, rep: number): Promise<Cell[]> {
  const server = await startLoom(row, true);
  try {
    await measure(server.url, row, 1, 1, { drafted: 0, accepted: 0 }); // warm-up
    const counted = async (streams: number, rounds: number, counts: { drafted: number; accepted: number }): Promise<Measured> => {
      const before = await loomCounts(server.url);
      const m = await measure(server.url, row, streams, rounds, { drafted: 0, accepted: 0 });
      const after = await loomCounts(server.url);
      counts.drafted += after.drafted - before.drafted;
      counts.accepted += after.accepted - before.accepted;
      return m;
    };
    const off = { drafted: 0, accepted: 0 };
    const on = { drafted: 0, accepted: 0 };
    const pair = async (streams: number, rounds: number): Promise<[Measured, Measured]> => {
      const runOff = (): Promise<Measured> => measure(server.url, row, streams, rounds, off, { speculative: false });
      if (rep % 2 === 1) {
        const onFirst = await counted(streams, rounds, on);
        return [await runOff(), onFirst];
      }
      const offFirst = await runOff();
      return [offFirst, await counted(streams, rounds, on)];
    };
    const [offOne, onOne] = await pair(1, 6);
    const [offEight, onEight] = await pair(8, 3);
    return [
      { row: row.name, engine: "loom-1p", speculation: false, oneStream: offOne, eightStreams: offEight, ...off },
      { row: row.name, engine: "loom-1p", speculation: true, oneStream: onOne, eightStreams: onEight, ...on },
    ];
  } finally {
    await server.stop();
  }
}

function render(cells: readonly Cell[], meta: string): string {
  const all = (row: string, engine: string, on: boolean): Cell[] => cells.filter((c) => c.row === row && c.engine === engine && c.speculation === on);
  /** The mean of the repeats (their drafted and accepted counts summed). */
  const find = (row: string, engine: string, on: boolean): Cell | undefined => {
    const cs = all(row, engine, on);
    if (cs.length === 0) return undefined;
    const mean = (f: (c: Cell) => number): number => cs.reduce((n, c) => n + f(c), 0) / cs.length;
    const m = (key: "oneStream" | "eightStreams"): Measured => ({
      tokPerS: mean((c) => c[key].tokPerS),
      tokens: mean((c) => c[key].tokens),
      wallMs: mean((c) => c[key].wallMs),
    });
    return {
      ...(cs[0] as Cell),
      oneStream: m("oneStream"),
      eightStreams: m("eightStreams"),
      drafted: mean((c) => c.drafted) * cs.length,
      accepted: mean((c) => c.accepted) * cs.length,
    };
  };
  /** The largest gap between repeats of one cell, as a fraction of their mean. */
  const spread = (row: string, key: "oneStream" | "eightStreams"): string => {
    let worst = 0;
    for (const engine of ["loom", "loom-1p", "llama-server"]) {
      for (const on of [false, true]) {
        const v = all(row, engine, on).map((c) => c[key].tokPerS);
        if (v.length > 1) worst = Math.max(worst, (Math.max(...v) - Math.min(...v)) / (v.reduce((a, b) => a + b, 0) / v.length));
      }
    }
    return `${(100 * worst).toFixed(0)}%`;
  };
  const lines = [
    `# Speculative decoding: Loom vs llama-server (${meta})`,
    "",
    "tok/s, off → on (speed-up), each the mean of the repeats; acceptance = accepted ÷ drafted tokens over them; spread = the largest gap between repeats of one cell ÷ their mean.",
    "Loom: off and on are separate server starts (`--spec-type none` against the row's flags), as llama-server's; Loom one process: one start with speculation on, its off being requests with `speculative: false`, alternating with on, so both share the start's step-time level.",
    "",
    "| row | streams | Loom off | Loom on | Loom speed-up | Loom one process: off / on | speed-up | llama-server off | llama-server on | llama-server speed-up | Loom ÷ llama-server speed-up (one process) | Loom acceptance | llama-server acceptance | spread |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  const rows = [...new Set(cells.map((c) => c.row))];
  for (const row of rows) {
    for (const key of ["oneStream", "eightStreams"] as const) {
      const v = (engine: string, on: boolean): number | null => find(row, engine, on)?.[key].tokPerS ?? null;
      const up = (engine: string): number | null => {
        const off = v(engine, false);
        const on = v(engine, true);
        return off === null || on === null ? null : on / off;
      };
      const acc = (engine: string): string => {
        const c = find(row, engine, true);
        return c === undefined || c.drafted === 0 ? "–" : `${((100 * c.accepted) / c.drafted).toFixed(0)}% of ${c.drafted}`;
      };
      const f = (x: number | null, d = 1): string => (x === null ? "–" : x.toFixed(d));
      const lu = up("loom");
      const pu = up("loom-1p");
      const au = up("llama-server");
      const over = (x: number | null): string => (x === null || au === null ? "–" : (x / au).toFixed(2));
      lines.push(
        `| ${row} | ${key === "oneStream" ? 1 : 8} | ${f(v("loom", false))} | ${f(v("loom", true))} | ${f(lu, 2)}× | ${f(v("loom-1p", false))} / ${f(v("loom-1p", true))} | ${f(pu, 2)}× | ${f(v("llama-server", false))} | ${f(v("llama-server", true))} | ${f(au, 2)}× | ${over(lu)} (${over(pu)}) | ${acc(lu === null ? "loom-1p" : "loom")} | ${acc("llama-server")} | ${spread(row, key)} |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

async function main(): Promise<void> {
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const rows = envList(process.env.LOOM_SPEC_ROWS, "draft-0.02,draft-0.1,ngram,none").map((r) => ROWS[r] ?? fail(`unknown row ${r}`));
  const engines = envList(process.env.LOOM_SPEC_ENGINES, "loom,loom-1p,llama-server");
  let binary: string | null = null;
  const anchorBinary = async (): Promise<string> => (binary ??= (await ensureLlamaServer(await modelPath("bench"))).binary);
  const cells: Cell[] = [];
  // Off and on alternate, twice: this machine's speed drifts by tens of percent between minutes, and alternating
  // spreads the drift over both; the table shows the mean of the two and how far apart they were.
  for (const row of rows) {
    for (const engine of engines) {
      for (let rep = 0; rep < REPEATS; rep++) {
        if (engine === "loom-1p") {
          process.stderr.write(`${row.name} loom one process, speculation off/on (${rep + 1}/${REPEATS})\n`);
          cells.push(...(await runLoomOneProcess(row, rep)));
          continue;
        }
        for (const on of [false, true]) {
          process.stderr.write(`${row.name} ${engine} speculation ${on ? "on" : "off"} (${rep + 1}/${REPEATS})\n`);
          cells.push(await runCell(engine, row, on, anchorBinary));
        }
      }
    }
  }
  const cfg = benchConfig();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const meta = `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, threads ${cfg.threads}/${cfg.threadsBatch}, ${PARALLEL} slots`;
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(`${RESULTS}spec-${stamp}.json`, JSON.stringify({ meta, maxTokens: MAX_TOKENS, cells }, null, 2));
  const md = render(cells, meta);
  writeFileSync(`${RESULTS}spec-latest.md`, md);
  process.stdout.write(md);
}

function fail(message: string): never {
  throw new Error(message);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

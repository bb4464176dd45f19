// `npm run bench:structured`: what a JSON-schema grammar costs, Loom beside llama-server on the same model file,
// threads, slots and context, one server at a time. Per model (the bench model, 32k SentencePiece vocabulary, and a
// bench-shaped model on the 128k Llama-3 vocabulary) and per engine: completions at 1 and 16 clients with and
// without a `json_schema` (a schema whose output stays structural: an array of small objects, so
// the grammar decides most tokens and every request reaches max_tokens), completion tok/s, and the ratio
// schema ÷ none. Goal (issue 11): Loom's ratio ≥ llama-server's, i.e. its overhead no larger.
// Rounds (LOOM_STRUCT_ROUNDS, default 3) restart each server in alternating order and are pooled: one short run of
// each moved by 15% between runs on this shared machine, more than the difference being measured.
// Env: LOOM_STRUCT_MODELS=spm,bpe  LOOM_STRUCT_LEVELS=1,16  LOOM_ANCHOR_ENGINES=llama-server,loom-prebuilt
// (also loom-sampling2: the prebuilt with --sampling-threads 2).
// Writes bench/results/structured-<date>.json and structured-latest.md.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { defaultModelPath, makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { benchConfig, envList, serverFlags, type BenchConfig } from "../bench-config.js";
import { startBenchServer, type BenchServer } from "../server-process.js";
import { ensureLlamaServer } from "./build-llama-server.js";
import { setFetchTimeouts } from "./fetch-timeouts.js";
import { startLlamaServer } from "./llama-server-process.js";
import { anchorLlamaServer, CTX_SIZE, PARALLEL } from "./workloads.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));

/**
 * The same sampler chain on both engines (llama-server's defaults, sent explicitly): Loom's defaults are OpenAI's
 * (no top-k/top-p/min-p), llama-server's are top_k 40, top_p 0.95, min_p 0.05, so without this the two would do
 * different sampling work per token. LOOM_STRUCT_SAMPLING=defaults sends only temperature (each server's own).
 */
const SAMPLING = process.env.LOOM_STRUCT_SAMPLING === "defaults" ? {} : { top_k: 40, top_p: 0.95, min_p: 0.05 };
const MAX_TOKENS = 128;

/** Structural output: integers, enums and short strings in objects, at least 40 of them (past max_tokens). */
export const BENCH_SCHEMA = {
  type: "array",
  minItems: 40,
  items: {
    type: "object",
    properties: {
      id: { type: "integer", minimum: 0, maximum: 999 },
      tag: { enum: ["red", "green", "blue"] },
      ok: { type: "boolean" },
      name: { type: "string", maxLength: 6 },
    },
    required: ["id", "tag", "ok", "name"],
    additionalProperties: false,
  },
};

interface Row {
  readonly model: string;
  readonly engine: string;
  readonly clients: number;
  readonly plainTokS: number;
  readonly schemaTokS: number;
  readonly ratio: number;
  readonly roundRatios: readonly number[];
  readonly schemaFinish: Record<string, number>;
}

const list = envList;

function log(line: string): void {
  process.stderr.write(`[structured] ${line}\n`);
}

interface Outcome {
  readonly tokens: number;
  readonly finish: string;
}

/**
 * Legacy completions with llama-server's `json_schema` field (Loom takes it too). Not chat + response_format: on
 * this llama-server version that fails for the synthetic models' template ("Failed to initialize samplers": its chat
 * grammar embeds the generation prompt), and its /v1/completions ignores response_format without a word.
 */
async function chat(url: string, model: string, seed: number, schema: boolean): Promise<Outcome> {
  const body = {
    model,
    prompt: `List items, please (${seed}):`,
    max_tokens: MAX_TOKENS,
    temperature: 1,
    seed,
    ...SAMPLING,
    ...(schema ? { json_schema: BENCH_SCHEMA } : {}),
  };
  const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = (await res.json()) as { usage?: { completion_tokens?: number }; choices?: { finish_reason?: string }[]; error?: unknown };
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json.error ?? json)}`);
  return { tokens: json.usage?.completion_tokens ?? 0, finish: json.choices?.[0]?.finish_reason ?? "?" };
}

interface Sample {
  readonly tokens: number;
  readonly seconds: number;
  readonly finish: Record<string, number>;
}

/** Closed-loop clients, `perClient` requests each: completion tokens and wall time. */
async function load(url: string, model: string, clients: number, perClient: number, schema: boolean, round: number): Promise<Sample> {
  const finish: Record<string, number> = {};
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const o = await chat(url, model, round * 100_000 + c * 1000 + i, schema);
        tokens += o.tokens;
        finish[o.finish] = (finish[o.finish] ?? 0) + 1;
      }
    }),
  );
  return { tokens, seconds: (performance.now() - t0) / 1000, finish };
}

/** One round on one server: every level, "none" and "schema" back to back, their order swapped each round. */
async function measureRound(
  name: string,
  start: () => Promise<BenchServer>,
  model: string,
  modelLabel: string,
  levels: readonly number[],
  round: number,
): Promise<RoundRow[]> {
  log(`${modelLabel} round ${round + 1}: starting ${name}`);
  const server = await start();
  const rows: RoundRow[] = [];
  try {
    await chat(server.url, model, 1, true); // warm-up (and the grammar's first parse)
    for (const clients of levels) {
      const perClient = clients === 1 ? 3 : 2;
      const schemaFirst = round % 2 === 1;
      const first = await load(server.url, model, clients, perClient, schemaFirst, round);
      const second = await load(server.url, model, clients, perClient, !schemaFirst, round);
      const [plain, schema] = schemaFirst ? [second, first] : [first, second];
      const ratio = schema.tokens / schema.seconds / (plain.tokens / plain.seconds);
      log(
        `${modelLabel} ${name} ×${clients}: none ${(plain.tokens / plain.seconds).toFixed(1)} tok/s, schema ${(schema.tokens / schema.seconds).toFixed(1)} tok/s (${ratio.toFixed(2)}), finishes ${JSON.stringify(schema.finish)}`,
      );
      rows.push({ model: modelLabel, engine: name, clients, round, plain, schema });
    }
  } finally {
    await server.stop();
  }
  return rows;
}

interface RoundRow {
  readonly model: string;
  readonly engine: string;
  readonly clients: number;
  readonly round: number;
  readonly plain: Sample;
  readonly schema: Sample;
}

/** Rounds pooled per cell: tokens over time across rounds, plus each round's own ratio to show the spread. */
function pooled(rounds: readonly RoundRow[]): Row[] {
  const cells = new Map<string, RoundRow[]>();
  for (const r of rounds) {
    const key = `${r.model}|${r.engine}|${r.clients}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  return [...cells.values()].map((rs) => {
    const rate = (pick: (r: RoundRow) => Sample): number => rs.reduce((a, r) => a + pick(r).tokens, 0) / rs.reduce((a, r) => a + pick(r).seconds, 0);
    const finish: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.schema.finish)) finish[k] = (finish[k] ?? 0) + v;
    const first = rs[0] as RoundRow;
    const plainTokS = rate((r) => r.plain);
    const schemaTokS = rate((r) => r.schema);
    return {
      model: first.model,
      engine: first.engine,
      clients: first.clients,
      plainTokS,
      schemaTokS,
      ratio: schemaTokS / plainTokS,
      roundRatios: rs.map((r) => r.schema.tokens / r.schema.seconds / (r.plain.tokens / r.plain.seconds)),
      schemaFinish: finish,
    };
  });
}

/** `loom-sampling2`: the prebuilt binary with --sampling-threads 2 (two sequences sampled at once). */
function samplingFlags(engine: string): string[] {
  const m = /-sampling(\d+)$/.exec(engine);
  return m === null ? [] : ["--sampling-threads", m[1] as string];
}

async function modelFor(label: string): Promise<string> {
  const opts = label === "bpe" ? ({ preset: "bench", vocab: "llama-bpe" } as const) : ({ preset: "bench" } as const);
  const path = defaultModelPath(opts);
  if (!existsSync(path)) await makeSyntheticModel(opts);
  return path;
}

async function main(): Promise<void> {
  const base = benchConfig();
  const levels = list(process.env.LOOM_STRUCT_LEVELS, "1,16").map(Number);
  const engines = list(process.env.LOOM_ANCHOR_ENGINES, "llama-server,loom-prebuilt");
  await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
  const rounds = Number(process.env.LOOM_STRUCT_ROUNDS ?? "3");
  const measured: RoundRow[] = [];
  for (const label of list(process.env.LOOM_STRUCT_MODELS, "spm,bpe")) {
    const cfg: BenchConfig = { ...base, modelPath: await modelFor(label) };
    const build = await ensureLlamaServer(cfg.modelPath);
    const starter = (engine: string) => (): Promise<BenchServer> =>
      engine === "llama-server"
        ? startLlamaServer(anchorLlamaServer(build.binary, cfg))
        : startBenchServer(
            serverFlags(cfg, [
              "--parallel",
              String(PARALLEL),
              "--ctx-size",
              String(CTX_SIZE),
              "--native-build",
              engine === "loom" ? "auto" : "never",
              ...samplingFlags(engine),
            ]),
          );
    // Engines alternate (A B, B A, ...) so a slow patch of the shared machine lands on both.
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) measured.push(...(await measureRound(engine, starter(engine), cfg.modelName, label, levels, round)));
    }
  }
  const rows = pooled(measured);
  const report = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? "unknown",
    threads: base.threads,
    threadsBatch: base.threadsBatch,
    maxTokens: MAX_TOKENS,
    sampling: SAMPLING,
    schema: BENCH_SCHEMA,
    rounds,
    rows,
    measured,
  };
  mkdirSync(RESULTS, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  writeFileSync(`${RESULTS}structured-${stamp}.json`, JSON.stringify(report, null, 2));
  writeFileSync(`${RESULTS}structured-latest.md`, renderMarkdown(report));
  process.stdout.write(renderMarkdown(report));
}

function renderMarkdown(r: {
  date: string;
  cpu: string;
  threads: number;
  threadsBatch: number;
  sampling: object;
  rounds: number;
  rows: readonly Row[];
}): string {
  const sampling = Object.keys(r.sampling).length === 0 ? "each server's default sampler" : `temperature 1 + ${JSON.stringify(r.sampling)} on both`;
  const lines = [
    `# JSON-schema grammar cost (${r.date}, ${r.cpu}, threads ${r.threads}/${r.threadsBatch}, ${PARALLEL} slots, max_tokens ${MAX_TOKENS}, ${sampling}, ${r.rounds} interleaved rounds pooled)`,
    "",
    "| model vocab | engine | clients | tok/s none | tok/s schema | schema ÷ none | per round | schema finishes |",
    "|---|---|---|---|---|---|---|---|",
    ...r.rows.map(
      (x) =>
        `| ${x.model} | ${x.engine} | ${x.clients} | ${x.plainTokS.toFixed(1)} | ${x.schemaTokS.toFixed(1)} | ${x.ratio.toFixed(2)} | ${x.roundRatios.map((v) => v.toFixed(2)).join(" ")} | ${JSON.stringify(x.schemaFinish)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

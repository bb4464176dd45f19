// `loom make-model`: command-line front end for makeSyntheticModel. Owns argument parsing/validation
// and the one-line report (path, params, size, seconds); the caller decides how to exit.
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type MakeModelOptions, PRESETS, type PresetName, type QuantName, TEMPLATES, type TemplateName, makeSyntheticModel } from "./make-synthetic-model.js";
import { VOCABS, type VocabName } from "./vocab-source.js";

const QUANTS: readonly QuantName[] = ["f32", "f16", "q8_0"];

export const MAKE_MODEL_USAGE = `Usage: loom make-model [options]

Makes a deterministic synthetic Llama GGUF (real tokenizer, random weights: its text is gibberish).

Options:
  --preset NAME   ${Object.keys(PRESETS).join(" | ")} (default tiny)
  --out PATH      output file (default models/generated/<preset>….gguf)
  --seed N        u32 weight seed (same preset + seed => byte-identical file)
  --eps X         target preset only: scale of the extra layers' residual writes (default 0)
  --vocab NAME    ${Object.keys(VOCABS).join(" | ")} (default: the preset's)
  --quant TYPE    ${QUANTS.join(" | ")} (default: the preset's)
  --template T    ${Object.keys(TEMPLATES).join(" | ")} (default: zephyr; the others are real tool-calling templates)
  --help          show this help
`;

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`--${flag} must be one of ${allowed.join(", ")}, got "${value}"`);
  return found;
}

function parseNumber(flag: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new Error(`--${flag} must be ${integer ? "an integer" : "a number"}, got "${value}"`);
  }
  return n;
}

/** Returns null when --help was asked for. Throws on bad input. */
export function parseMakeModelArgs(argv: string[]): MakeModelOptions | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      preset: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      eps: { type: "string" },
      vocab: { type: "string" },
      quant: { type: "string" },
      template: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return null;
  const presetNames = Object.keys(PRESETS) as PresetName[];
  const opts: MakeModelOptions = { preset: oneOf("preset", values.preset ?? "tiny", presetNames) };
  // exactOptionalPropertyTypes: only set the keys that were given.
  if (values.out !== undefined) opts.outPath = values.out;
  if (values.seed !== undefined) opts.seed = parseNumber("seed", values.seed, true);
  if (values.eps !== undefined) opts.eps = parseNumber("eps", values.eps, false);
  if (values.vocab !== undefined) opts.vocab = oneOf("vocab", values.vocab, Object.keys(VOCABS) as VocabName[]);
  if (values.quant !== undefined) opts.quant = oneOf("quant", values.quant, QUANTS);
  if (values.template !== undefined) opts.template = oneOf("template", values.template, Object.keys(TEMPLATES) as TemplateName[]);
  return opts;
}

export async function runMakeModelCli(argv: string[]): Promise<number> {
  let opts: MakeModelOptions | null;
  try {
    opts = parseMakeModelArgs(argv);
  } catch (err) {
    process.stderr.write(`make-model: ${err instanceof Error ? err.message : String(err)}\n\n${MAKE_MODEL_USAGE}`);
    return 2;
  }
  if (opts === null) {
    process.stdout.write(MAKE_MODEL_USAGE);
    return 0;
  }
  const started = performance.now();
  try {
    const made = await makeSyntheticModel(opts);
    const seconds = (performance.now() - started) / 1000;
    const { size } = await stat(made.path);
    process.stdout.write(`made ${made.path}\n  ${made.description}\n  ${made.params} params, ` + `${(size / 1e6).toFixed(1)} MB, ${seconds.toFixed(1)} s\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`make-model failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

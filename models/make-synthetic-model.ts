// Builds deterministic synthetic Llama-architecture GGUF models: real tokenizer (copied from a vocab-only
// GGUF), a chat template, and seeded random weights. Owns the presets (tiny/bench/draft/target), the
// tensor layout, the weight initialisation, and the default test model at models/generated/tiny.gguf.
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { GGML_TYPE, type GgmlTypeCode } from "./ggml-quant.js";
import { type GgufTensorSpec, type GgufValue, elementCount, gguf, readGgufFile, writeGgufFile } from "./gguf-file.js";
import { NormalStream, deriveSeed } from "./prng.js";
import { type VocabName, ensureBundleFile, ensureVocabFile, generatedDir } from "./vocab-source.js";

export type PresetName = "tiny" | "bench" | "draft" | "target" | "margin";
export type QuantName = "f32" | "f16" | "q8_0";

export interface Preset {
  description: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  vocab: VocabName;
  quant: QuantName;
  /**
   * True: no output.weight, llama.cpp reuses token_embd as the head. Tying biases every token towards predicting itself
   * (logit e_t·e_t); at n_embd 768 the layers' residual writes drown that out, but at n_embd 64 they
   * don't and greedy decoding locks onto one token within a few steps, so `tiny` keeps its own head.
   */
  tiedEmbeddings: boolean;
  /** Layers at or above this index get attn_output/ffn_down scaled by eps (speculative-decoding target). */
  epsFromLayer?: number;
  /**
   * "successor": instead of a random head, output.weight's row for token (t × 7919 + 13) mod n_vocab is token t's
   * embedding, and every layer's residual writes are scaled by `residualScale`, so the residual stream stays close to
   * the input token's embedding and that successor wins by ~12 logits (a random head's top-1 margins are ~0.1, and
   * llama.cpp's kernels, which are not batch-invariant, shift logits by ~1e-2 between batch shapes: greedy tokens flip).
   */
  head?: "random" | "successor";
  residualScale?: number;
}

const BENCH_SHAPE = {
  nEmbd: 768,
  nHead: 12,
  nHeadKv: 12,
  nFf: 2048,
  vocab: "llama-spm",
  quant: "q8_0",
  tiedEmbeddings: true,
} as const;

export const PRESETS: Record<PresetName, Preset> = {
  tiny: {
    description: "test model: fast to make and to run",
    nEmbd: 64,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 4,
    nFf: 128,
    vocab: "llama-spm",
    quant: "f32",
    tiedEmbeddings: false,
  },
  bench: { description: "benchmark model, ~110M params", ...BENCH_SHAPE, nLayer: 12 },
  draft: { description: "speculative-decoding draft: bench shape, 2 layers", ...BENCH_SHAPE, nLayer: 2 },
  target: {
    description: "speculative-decoding target: the draft plus 10 layers whose residual writes are scaled by eps",
    ...BENCH_SHAPE,
    nLayer: 12,
    epsFromLayer: 2,
  },
  margin: {
    description: "bench shape, 2 layers, a head with clear top-1 margins: greedy tokens do not depend on batch shape",
    ...BENCH_SHAPE,
    nLayer: 2,
    tiedEmbeddings: false,
    head: "successor",
    residualScale: 0.1,
  },
};

export const DEFAULT_SEED = 1234;
const CONTEXT_LENGTH = 8192;
const RMS_EPS = 1e-5;
const ROPE_FREQ_BASE = 10000;
const WEIGHT_STD = 0.02;
/** Values per generated chunk: bounds memory for 25M-value embeddings; a multiple of the Q8_0 block. */
const CHUNK = 1 << 18;

const QUANT: Record<QuantName, { type: GgmlTypeCode; fileType: number }> = {
  f32: { type: GGML_TYPE.F32, fileType: 0 }, // LLAMA_FTYPE_ALL_F32
  f16: { type: GGML_TYPE.F16, fileType: 1 }, // LLAMA_FTYPE_MOSTLY_F16
  q8_0: { type: GGML_TYPE.Q8_0, fileType: 7 }, // LLAMA_FTYPE_MOSTLY_Q8_0
};

/**
 * Chat templates: Loom's Zephyr-style default, or a real tool-calling template from llama.cpp's source tree
 * (models/templates/), so the tool prompt and call paths run through the template a real model ships with.
 */
export const TEMPLATES = {
  zephyr: null,
  "qwen2.5": "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja",
  "llama3.1": "models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
} as const;
export type TemplateName = keyof typeof TEMPLATES;

export interface MakeModelOptions {
  preset: PresetName;
  outPath?: string;
  seed?: number;
  eps?: number;
  vocab?: VocabName;
  quant?: QuantName;
  template?: TemplateName;
}

export interface MadeModel {
  path: string;
  description: string;
  params: number;
}

interface Resolved extends Preset {
  name: PresetName;
  seed: number;
  eps: number;
  template: TemplateName;
}

function resolveOptions(opts: MakeModelOptions): Resolved {
  const preset = PRESETS[opts.preset];
  if (preset === undefined) throw new Error(`unknown preset ${String(opts.preset)}`);
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed must be a u32, got ${seed}`);
  const eps = opts.eps ?? 0;
  if (!Number.isFinite(eps)) throw new Error(`eps must be finite, got ${eps}`);
  const template = opts.template ?? "zephyr";
  if (!(template in TEMPLATES)) throw new Error(`unknown template ${String(template)} (${Object.keys(TEMPLATES).join(", ")})`);
  return { ...preset, name: opts.preset, seed, eps, vocab: opts.vocab ?? preset.vocab, quant: opts.quant ?? preset.quant, template };
}

/** models/generated/<preset>[-sSEED][-epsX][-VOCAB][-QUANT].gguf: defaults keep the short name. */
export function defaultModelPath(opts: MakeModelOptions): string {
  const r = resolveOptions(opts);
  const p = PRESETS[r.name];
  const parts = [
    r.name,
    r.seed !== DEFAULT_SEED ? `s${r.seed}` : "",
    r.eps !== 0 && r.epsFromLayer !== undefined ? `eps${r.eps}` : "",
    r.vocab !== p.vocab ? r.vocab : "",
    r.quant !== p.quant ? r.quant : "",
    r.template !== "zephyr" ? r.template.replace(".", "") : "",
  ];
  return join(generatedDir(), `${parts.filter((s) => s !== "").join("-")}.gguf`);
}

/**
 * Tensor list in file order. The bench-shaped presets tie embeddings (keeps bench at ~110M params and
 * ~25% smaller); either way a draft and its target share the output head, as it is seeded by name.
 */
export function syntheticTensorSpecs(opts: MakeModelOptions, nVocab: number): GgufTensorSpec[] {
  return tensorSpecs(resolveOptions(opts), nVocab);
}

function tensorSpecs(r: Resolved, nVocab: number): GgufTensorSpec[] {
  const wt = QUANT[r.quant].type;
  const { nEmbd: e, nFf: ff } = r;
  const kvDim = (e / r.nHead) * r.nHeadKv;
  // Random attention logits need real spread, or attention is uniform and greedy decoding collapses into one
  // repeated token; q/k at std sqrt(5/n_embd) gives q·k scores of std ~sqrt(5), measured to behave.
  const qkStd = Math.sqrt(5 / e);
  const specs: GgufTensorSpec[] = [randomTensor(r, "token_embd.weight", [e, nVocab], wt, WEIGHT_STD)];
  for (let l = 0; l < r.nLayer; l++) {
    // eps = 0 turns a layer into the identity on the residual stream: its output projections are zero.
    const scale = r.epsFromLayer !== undefined && l >= r.epsFromLayer ? r.eps : (r.residualScale ?? 1);
    const p = `blk.${l}.`;
    specs.push(
      onesTensor(`${p}attn_norm.weight`, e),
      randomTensor(r, `${p}attn_q.weight`, [e, e], wt, qkStd),
      randomTensor(r, `${p}attn_k.weight`, [e, kvDim], wt, qkStd),
      randomTensor(r, `${p}attn_v.weight`, [e, kvDim], wt, WEIGHT_STD),
      randomTensor(r, `${p}attn_output.weight`, [e, e], wt, WEIGHT_STD, scale),
      onesTensor(`${p}ffn_norm.weight`, e),
      randomTensor(r, `${p}ffn_gate.weight`, [e, ff], wt, WEIGHT_STD),
      randomTensor(r, `${p}ffn_up.weight`, [e, ff], wt, WEIGHT_STD),
      randomTensor(r, `${p}ffn_down.weight`, [ff, e], wt, WEIGHT_STD, scale),
    );
  }
  specs.push(onesTensor("output_norm.weight", e));
  // Seeded by name like the rest, so adding it leaves every other tensor's values unchanged.
  if (!r.tiedEmbeddings) specs.push(r.head === "successor" ? successorHead(r, e, nVocab, wt) : randomTensor(r, "output.weight", [e, nVocab], wt, WEIGHT_STD));
  return specs;
}

/** Seeded N(0, std²)·scale values; the stream depends only on (seed, name), not on generation order. */
function randomTensor(r: Resolved, name: string, ne: number[], type: GgmlTypeCode, std: number, scale = 1): GgufTensorSpec {
  return {
    name,
    ne,
    type,
    *data() {
      const stream = new NormalStream(deriveSeed(r.seed, name), std);
      const total = elementCount(ne);
      for (let done = 0; done < total; done += CHUNK) {
        const chunk = stream.fill(new Float32Array(Math.min(CHUNK, total - done)));
        if (scale !== 1) for (let i = 0; i < chunk.length; i++) chunk[i] = (chunk[i] ?? 0) * scale;
        yield chunk;
      }
    },
  };
}

/** output.weight whose row for token (t × 7919 + 13) mod n_vocab is token t's embedding (7919 is coprime with 32000). */
function successorHead(r: Resolved, e: number, nVocab: number, type: GgmlTypeCode): GgufTensorSpec {
  return {
    name: "output.weight",
    ne: [e, nVocab],
    type,
    *data() {
      const embd = new NormalStream(deriveSeed(r.seed, "token_embd.weight"), WEIGHT_STD).fill(new Float32Array(e * nVocab));
      const head = new Float32Array(e * nVocab);
      for (let t = 0; t < nVocab; t++) {
        const s = (t * 7919 + 13) % nVocab;
        head.set(embd.subarray(t * e, (t + 1) * e), s * e);
      }
      for (let done = 0; done < head.length; done += CHUNK) yield head.subarray(done, Math.min(head.length, done + CHUNK));
    },
  };
}

/** RMS-norm weights: always F32 (as llama.cpp's own converters do) and all ones. */
function onesTensor(name: string, n: number): GgufTensorSpec {
  return { name, ne: [n], type: GGML_TYPE.F32, data: () => [new Float32Array(n).fill(1)] };
}

/** Zephyr-style template whose turn terminator is the vocab's real EOS text, so generation stops on EOS. */
export function chatTemplate(eosText: string): string {
  return (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}" +
    `${eosText}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}`
  );
}

async function templateText(name: TemplateName, eosText: string): Promise<string> {
  const source = TEMPLATES[name];
  if (source === null) return chatTemplate(eosText);
  const file = await ensureBundleFile(source, join(generatedDir(), "templates", source.split("/").pop() as string));
  return readFile(file, "utf8");
}

async function buildMetadata(r: Resolved): Promise<{ metadata: Map<string, GgufValue>; nVocab: number }> {
  const vocab = await readGgufFile(await ensureVocabFile(r.vocab));
  const tokens = vocab.metadata.get("tokenizer.ggml.tokens");
  const eosId = vocab.metadata.get("tokenizer.ggml.eos_token_id");
  if (tokens?.type !== "array" || tokens.itemType !== "string") throw new Error(`${r.vocab}: no token list`);
  if (eosId?.type !== "u32") throw new Error(`${r.vocab}: no tokenizer.ggml.eos_token_id`);
  const eosText = tokens.value[eosId.value];
  if (eosText === undefined) throw new Error(`${r.vocab}: eos id ${eosId.value} out of range`);
  const md = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("llama")],
    ["general.name", gguf.str(`loom-synthetic-${r.name}`)],
    ["general.file_type", gguf.u32(QUANT[r.quant].fileType)],
    ["llama.context_length", gguf.u32(CONTEXT_LENGTH)],
    ["llama.embedding_length", gguf.u32(r.nEmbd)],
    ["llama.block_count", gguf.u32(r.nLayer)],
    ["llama.feed_forward_length", gguf.u32(r.nFf)],
    ["llama.attention.head_count", gguf.u32(r.nHead)],
    ["llama.attention.head_count_kv", gguf.u32(r.nHeadKv)],
    ["llama.rope.dimension_count", gguf.u32(r.nEmbd / r.nHead)],
    ["llama.attention.layer_norm_rms_epsilon", gguf.f32(RMS_EPS)],
    ["llama.rope.freq_base", gguf.f32(ROPE_FREQ_BASE)],
    // Provenance, ignored by llama.cpp: lets anyone tell which recipe produced a file.
    ["loom.synthetic.preset", gguf.str(r.name)],
    ["loom.synthetic.seed", gguf.u32(r.seed)],
    ["loom.synthetic.eps", gguf.f32(r.eps)],
  ]);
  for (const [key, value] of vocab.metadata) if (key.startsWith("tokenizer.")) md.set(key, value);
  md.set("tokenizer.chat_template", gguf.str(await templateText(r.template, eosText)));
  return { metadata: md, nVocab: tokens.value.length };
}

function describe(r: Resolved, nVocab: number, params: number): string {
  const eps = r.epsFromLayer !== undefined ? ` eps=${r.eps} from layer ${r.epsFromLayer}` : "";
  return (
    `${r.name}: llama n_embd=${r.nEmbd} n_layer=${r.nLayer} n_head=${r.nHead} n_ff=${r.nFf} ` +
    `vocab=${r.vocab}(${nVocab}) ${r.quant} seed=${r.seed}${eps}, ${(params / 1e6).toFixed(1)}M params`
  );
}

/** Writes the model to a temp file and renames it into place, so readers never see a partial model. */
export async function makeSyntheticModel(opts: MakeModelOptions): Promise<MadeModel> {
  const r = resolveOptions(opts);
  const path = resolve(opts.outPath ?? defaultModelPath(opts));
  const { metadata, nVocab } = await buildMetadata(r);
  const tensors = tensorSpecs(r, nVocab);
  const params = tensors.reduce((sum, t) => sum + elementCount(t.ne), 0);
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeGgufFile(temp, metadata, tensors);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { path, description: describe(r, nVocab, params), params };
}

/** The model tests and `loom serve` fall back to; created on first use. */
export async function ensureDefaultModel(log?: (line: string) => void): Promise<string> {
  const path = join(generatedDir(), "tiny.gguf");
  if (existsSync(path)) return path;
  log?.(`making synthetic test model ${path}`);
  const made = await makeSyntheticModel({ preset: "tiny", outPath: path });
  log?.(`made ${made.description}`);
  return path;
}

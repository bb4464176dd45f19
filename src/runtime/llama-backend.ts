// LlamaBackend: ModelBackend over node-llama-cpp, and the only file under src/ that imports it.
// One context per engine with one llama.cpp sequence per slot; the weights are loaded once per process and shared
// by every engine of the model there. node-llama-cpp's public API loads the binary, the
// model and the context and tokenizes; each step runs through BatchExecutor on the native context (llama_decode calls
// of at most --ubatch-size tokens, built by Loom), never through node-llama-cpp's own evaluation queue.

import {
  getLlama,
  LlamaLogLevel,
  readGgufFileInfo,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type LlamaOptions,
  type Token,
} from "node-llama-cpp";
import type { StepPlan, StepResult } from "./step-plan.js";
import type { ModelBackend, ModelInfo, SequenceSampling } from "./model-backend.js";
import { BatchExecutor } from "./batch-executor.js";
import { measureKvCosts } from "./kv-costs.js";
import { nativeHandles } from "./llama-addon.js";
import { cuttableSpecials, safeCuts, tokenizeAtCuts, type SpecialPiece } from "./special-token-cuts.js";
import { warmUp } from "./warm-up.js";
import { attentionShape, narrowPrefillPenaltyPerCell } from "./narrow-prefill-cost.js";

export interface LlamaBackendOptions {
  readonly modelPath: string;
  readonly slots: number;
  readonly slotContextSize: number;
  /** Most tokens per llama_decode call (the context's n_batch = n_ubatch); the executor splits larger steps. */
  readonly ubatchSize: number;
  readonly flashAttn: "auto" | "on" | "off";
  /** llama.cpp threads for single-token steps. */
  readonly threads: number;
  /** llama.cpp threads for multi-token steps (batched decodes, prefill chunks). */
  readonly threadsBatch: number;
  readonly gpu: "auto" | "cuda" | "vulkan" | "cpu";
  readonly gpuLayers: number | "max";
  /** "never": ignore a local native/ build and use the prebuilt binary. */
  readonly nativeBuild: "auto" | "never";
  readonly log: (level: "error" | "warn" | "info" | "debug", message: string) => void;
  /** A directory for the host-tier cost probe (a file written and deleted at load); absent: not measured. */
  readonly kvProbeDir?: string | null;
}

/** A model's weights loaded once per process: every engine of the model in this process makes its own context. */
interface SharedModel {
  readonly key: string;
  readonly llama: Llama;
  readonly model: LlamaModel;
  users: number;
}

const sharedModels = new Map<string, Promise<SharedModel>>();

/** The loaded model for these options, loading it on first use; each caller releases it once (releaseModel). */
async function acquireModel(opts: LlamaBackendOptions): Promise<SharedModel> {
  const key = JSON.stringify([opts.modelPath, opts.gpu, opts.gpuLayers, opts.nativeBuild, Math.max(opts.threads, opts.threadsBatch)]);
  let entry = sharedModels.get(key);
  if (entry === undefined) {
    entry = loadModel(opts, key);
    sharedModels.set(key, entry);
    entry.catch(() => sharedModels.delete(key));
  }
  const shared = await entry;
  shared.users++;
  return shared;
}

async function releaseModel(shared: SharedModel): Promise<void> {
  if (--shared.users > 0) return;
  // Out of the map before anything is awaited: a load that starts now gets a fresh model, never this disposing one.
  sharedModels.delete(shared.key);
  await shared.model.dispose();
  await shared.llama.dispose();
}

async function loadModel(opts: LlamaBackendOptions, key: string): Promise<SharedModel> {
  const llama = await getLlama({
    gpu: opts.gpu === "cpu" ? false : opts.gpu,
    // node-llama-cpp's default is max(4, cores): 240 ms/token instead of ~1 on 2 cores. Always explicit.
    maxThreads: Math.max(opts.threads, opts.threadsBatch),
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => forwardLog(opts.log, level, message),
    ...binarySelectionOptions(opts.nativeBuild),
  });
  const model = await llama.loadModel({
    modelPath: opts.modelPath,
    ...(opts.gpu === "cpu" ? {} : { gpuLayers: opts.gpuLayers === "max" ? "max" : opts.gpuLayers }),
  });
  return { key, llama, model, users: 0 };
}

export async function loadLlamaBackend(opts: LlamaBackendOptions): Promise<LlamaBackend> {
  const shared = await acquireModel(opts);
  try {
    return await openBackend(shared, opts);
  } catch (err) {
    await releaseModel(shared);
    throw err;
  }
}

async function openBackend(shared: SharedModel, opts: LlamaBackendOptions): Promise<LlamaBackend> {
  const { model } = shared;
  const context = await model.createContext({
    sequences: opts.slots,
    contextSize: opts.slotContextSize,
    batchSize: opts.ubatchSize,
    flashAttention: opts.flashAttn === "auto" ? "auto" : opts.flashAttn === "on",
    threads: Math.max(opts.threads, opts.threadsBatch),
  });
  const sequences: LlamaContextSequence[] = [];
  for (let i = 0; i < opts.slots; i++) sequences.push(context.getSequence());
  const backend = new LlamaBackend(shared, context, sequences, opts);
  await backend.prepare(opts.kvProbeDir ?? null);
  return backend;
}

/**
 * Which binary: node-llama-cpp takes a local build (`npm run build:native`) before the prebuilt one and has no
 * option to skip it. A cmake option no local build was made with changes the local-build folder it looks for, so
 * none matches, while the prebuilt lookup ignores custom options: that is how `--native-build never` forces the
 * prebuilt (verified: buildType "prebuilt"; `auto` gives "localBuild" when one exists). Never compiles or downloads.
 */
export function binarySelectionOptions(
  nativeBuild: "auto" | "never",
): Pick<LlamaOptions, "build" | "usePrebuiltBinaries" | "skipDownload" | "cmakeOptions" | "existingPrebuiltBinaryMustMatchBuildOptions"> {
  const base = { build: "never", usePrebuiltBinaries: true, skipDownload: true } as const;
  if (nativeBuild === "auto") return base;
  return { ...base, cmakeOptions: { LOOM_FORCE_PREBUILT: "1" }, existingPrebuiltBinaryMustMatchBuildOptions: false };
}

function forwardLog(log: LlamaBackendOptions["log"], level: LlamaLogLevel, message: string): void {
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) log("error", message);
  else if (level === LlamaLogLevel.warn) log("warn", message);
  else log("debug", message);
}

export class LlamaBackend implements ModelBackend {
  info: ModelInfo;
  private readonly tokenizeCut: Tokenize;
  private readonly executor: BatchExecutor;

  private readonly model: LlamaModel;

  constructor(
    private readonly shared: SharedModel,
    private readonly context: LlamaContext,
    private readonly sequences: readonly LlamaContextSequence[],
    opts: LlamaBackendOptions,
  ) {
    const { llama, model } = shared;
    this.model = model;
    const tokens = model.tokens;
    this.tokenizeCut = cutTokenizer(model);
    // Slots are llama.cpp sequence ids 0..n-1, reserved through node-llama-cpp and never evaluated through it.
    const native = nativeHandles(context, model, sequences);
    this.executor = new BatchExecutor({
      ...native,
      eogTokens: eogTokens(model),
      threads: opts.threads,
      threadsBatch: opts.threadsBatch,
      ubatchSize: opts.ubatchSize,
      slotContextSize: context.contextSize,
      tokenForChar: charTokens(model),
    });
    this.info = {
      path: opts.modelPath,
      trainContextSize: model.trainContextSize,
      vocabSize: model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0,
      slotContextSize: context.contextSize,
      slots: sequences.length,
      chatTemplate: model.fileInfo.metadata.tokenizer?.chat_template ?? null,
      bosText: tokens.bosString ?? "",
      eosText: tokens.eosString ?? "",
      gpu: llama.gpu,
      threads: opts.threads,
      threadsBatch: opts.threadsBatch,
      buildType: llama.buildType,
      architecture: String(model.fileInfo.metadata.general?.architecture ?? "unknown"),
      maxTokenBytes: maxTokenBytes(model),
      kvCosts: { copyMs: 0, bytesPerToken: 0, restoreMsPerToken: 0, saveMsPerToken: 0 },
      narrowPrefillPenaltyPerCell: narrowPrefillPenaltyPerCell(
        attentionShape(model.fileInfo.metadata as Record<string, unknown>, String(model.fileInfo.metadata.general?.architecture), model.fileInfo.tensorInfo),
        llama.gpu === false && opts.flashAttn !== "off",
      ),
    };
  }

  /**
   * Before the first request: warm the model up (warm-up.ts), then measure what KV copies and host-tier files cost
   * here (kv-costs.ts; the scheduler weighs prefix reuse with it).
   */
  async prepare(probeDir: string | null): Promise<void> {
    const token = this.model.tokens.bos ?? 0;
    await warmUp(
      (plan, sampling) => this.executor.step(plan, sampling),
      (s) => this.executor.release(s),
      token,
    );
    const kvCosts = await measureKvCosts((plan) => this.executor.step(plan, unusedSampling), this.info.slots, token, probeDir);
    this.info = { ...this.info, kvCosts };
  }

  tokenize(text: string, special: boolean, addBos = true): number[] {
    return this.tokenizeCut(text, special, addBos);
  }

  detokenize(tokens: readonly number[], special = false, previous?: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], special, previous as Token[] | undefined);
  }

  isEog(token: number): boolean {
    return this.model.isEogToken(token as Token);
  }

  prepareGrammar(grammar: string): void {
    this.executor.grammarCache.prepare(grammar);
  }

  kvCellsUsed(): number {
    return this.sequences.reduce((n, _, slot) => n + this.executor.cellsUsed(slot), 0);
  }

  step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult> {
    return this.executor.step(plan, sampling);
  }

  releaseSampling(sampling: SequenceSampling): void {
    this.executor.release(sampling);
  }

  async dispose(): Promise<void> {
    for (const s of this.sequences) s.dispose();
    await this.context.dispose();
    await releaseModel(this.shared);
  }
}

/** Every end-of-generation token of the vocabulary (what ignore_eos and min_tokens mask). */
function eogTokens(model: LlamaModel): number[] {
  const n = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
  const out: number[] = [];
  for (let t = 0; t < n; t++) if (model.isEogToken(t as Token)) out.push(t);
  return out;
}

type Tokenize = (text: string, special: boolean, addBos: boolean) => number[];

/** Text between cuts: long enough that the per-call overhead vanishes, short enough that the partition stays cheap. */
const CUT_CHUNK_CHARS = 2_048;

/**
 * Text → ids as the engine's model sees them, cut after special tokens (special-token-cuts.ts) so that a text full
 * of them costs linear time; the engine and the off-thread tokenizer both tokenize through this.
 */
function cutTokenizer(model: LlamaModel): Tokenize {
  const specials = specialPieces(model);
  return (text, special, addBos) => {
    // No cut can fall inside a text this short: skip the scan for special tokens.
    if (text.length <= CUT_CHUNK_CHARS) return tokenizeText(model, text, special, addBos);
    const cuts = safeCuts(text, special ? specials.parsed : specials.always, CUT_CHUNK_CHARS);
    return tokenizeAtCuts(text, cuts, (piece, first) => tokenizeText(model, piece, special, addBos && first));
  };
}

/**
 * A token whose text is exactly one character, memoized: candidates are the vocabulary pieces that spell it (the
 * character itself; SentencePiece's byte token "<0xNN>"; byte-level BPE's stand-in for a control byte or space) and
 * its tokenizations, each checked by decoding it after a neighbour (a SentencePiece word-start token keeps its space
 * there). What a lazy grammar reads the text it was armed with through.
 */
function charTokens(model: LlamaModel): (ch: string) => number | null {
  const known = new Map<string, number | null>();
  let byPiece: Map<string, number> | null = null;
  const anchor = model.tokenize("a", false).at(-1);
  const previous = anchor === undefined ? undefined : [anchor];
  return (ch) => {
    if (known.has(ch)) return known.get(ch) as number | null;
    const ids = (byPiece ??= pieceIds(model));
    const code = ch.codePointAt(0) ?? 0;
    const byte = code < 0x80 ? [`<0x${code.toString(16).toUpperCase().padStart(2, "0")}>`] : [];
    const pieces = [ch, ...byte, ...(code <= 32 ? [String.fromCharCode(256 + code)] : [])];
    const candidates = [...pieces.flatMap((p) => ids.get(p) ?? []), ...[ch, `a${ch}`].flatMap((t) => Array.from(model.tokenize(t, false)))];
    const found = candidates.find((t) => !model.isSpecialToken(t as Token) && model.detokenize([t as Token], false, previous) === ch) ?? null;
    known.set(ch, found);
    return found;
  };
}

/** The vocabulary's stored piece strings → their first token id. */
function pieceIds(model: LlamaModel): Map<string, number> {
  const ids = new Map<string, number>();
  (model.fileInfo.metadata.tokenizer?.ggml?.tokens ?? []).forEach((piece, id) => {
    if (!ids.has(String(piece))) ids.set(String(piece), id);
  });
  return ids;
}

/** One llama.cpp tokenization of the whole text (callers go through cutTokenizer). */
function tokenizeText(model: LlamaModel, text: string, special: boolean, addBos: boolean): number[] {
  const ids = Array.from(model.tokenize(text, special));
  const bos = model.tokens.bos;
  // model.tokenize never adds BOS; a chat template usually renders it as text (parsed when special=true).
  if (addBos && bos !== null && model.tokens.shouldPrependBosToken && ids[0] !== bos) ids.unshift(bos);
  return ids;
}

/**
 * The most bytes of text one token can stand for, from the vocabulary's stored piece strings. Stored pieces are
 * never shorter than the text they decode to (SentencePiece writes a space as the 3-byte "▁", byte-level BPE maps a
 * byte to a 1–2 byte character, byte tokens are "<0xNN>"), so this is an upper bound.
 */
function maxTokenBytes(model: LlamaModel): number {
  const pieces = model.fileInfo.metadata.tokenizer?.ggml?.tokens ?? [];
  let max = 1;
  for (const piece of pieces) max = Math.max(max, Buffer.byteLength(String(piece)));
  return max;
}

/**
 * The special tokens llama.cpp splits a text at before tokenizing: user-defined ones always, control and unknown
 * ones only when special-token text is parsed (llama.cpp's token types 2 unknown, 3 control, 4 user-defined).
 */
function specialPieces(model: LlamaModel): { parsed: SpecialPiece[]; always: SpecialPiece[] } {
  const ggml = model.fileInfo.metadata.tokenizer?.ggml;
  const pieces = ggml?.tokens ?? [];
  const types = (ggml as { token_type?: readonly number[] } | undefined)?.token_type ?? [];
  const ofTypes = (wanted: readonly number[]): string[] => pieces.filter((_, i) => wanted.includes(types[i] ?? 1)).map(String);
  const tokenizeSpecial = (text: string): number[] => tokenizeText(model, text, true, false);
  return { parsed: cuttableSpecials(ofTypes([2, 3, 4]), tokenizeSpecial), always: cuttableSpecials(ofTypes([4]), (t) => tokenizeText(model, t, false, false)) };
}

/** A model's vocabulary alone (no weights, no context): what an off-thread tokenizer loads. */
export interface VocabTokenizer {
  tokenize(text: string, special: boolean, addBos: boolean): number[];
  dispose(): Promise<void>;
}

export async function loadVocabTokenizer(modelPath: string, nativeBuild: "auto" | "never"): Promise<VocabTokenizer> {
  const llama = await getLlama({ gpu: false, maxThreads: 1, progressLogs: false, logLevel: LlamaLogLevel.error, ...binarySelectionOptions(nativeBuild) });
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  const tokenize = cutTokenizer(model);
  return {
    tokenize,
    dispose: async () => {
      await model.dispose();
      await llama.dispose();
    },
  };
}

function unusedSampling(): never {
  throw new Error("the KV copy probe samples nothing");
}

/** What a GGUF file says about its tokenizer (tokenizer.ggml.*). */
export interface GgufVocabulary {
  readonly model: string;
  readonly pre: string | null;
  readonly tokens: readonly string[];
  readonly scores: readonly number[] | null;
  /** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  readonly tokenTypes: readonly number[] | null;
  readonly merges: readonly string[] | null;
}

/** A model file's vocabulary and chat metadata, read from its GGUF header alone (no llama.cpp, no weights). */
export interface ModelVocabularyInfo {
  readonly vocabulary: GgufVocabulary;
  readonly chatTemplate: string | null;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly addBos: boolean;
}

export async function readModelVocabulary(modelPath: string): Promise<ModelVocabularyInfo> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: false });
  const t = info.metadata.tokenizer;
  const g = t?.ggml;
  const list = <T>(x: unknown): readonly T[] | null => (Array.isArray(x) ? (x as T[]) : null);
  return {
    vocabulary: {
      model: String(g?.model ?? ""),
      pre: typeof g?.pre === "string" ? g.pre : null,
      tokens: list<string>(g?.tokens) ?? [],
      scores: list<number>(g?.scores),
      tokenTypes: list<number>(g?.token_type),
      merges: list<string>(g?.merges),
    },
    chatTemplate: typeof t?.chat_template === "string" ? t.chat_template : null,
    bosId: typeof g?.bos_token_id === "number" ? g.bos_token_id : null,
    eosId: typeof g?.eos_token_id === "number" ? g.eos_token_id : null,
    // llama.cpp's default for both vocabularies Loom routes (SentencePiece, Llama-3 BPE): BOS unless the file says not.
    addBos: typeof g?.add_bos_token === "boolean" ? g.add_bos_token : true,
  };
}

// LlamaBackend: ModelBackend over node-llama-cpp, and the only file under src/ that imports it.
// One model, one context with one llama.cpp sequence per slot. A step advances every entry in the same tick, so
// node-llama-cpp merges them into one llama_decode (measured: lockstep gives N/N merged decodes).

import {
  getLlama,
  LlamaLogLevel,
  TokenBias,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type LlamaOptions,
  type Token,
} from "node-llama-cpp";
import type { SampledToken, StepEntry, StepPlan, StepResult, TopLogprob } from "./step-plan.js";
import type { ModelBackend, ModelInfo, SequenceSampling } from "./model-backend.js";
import { logprobOf, nativeSamplerOptions, needsPenalties } from "./sampling-options.js";
import { cuttableSpecials, safeCuts, tokenizeAtCuts, type SpecialPiece } from "./special-token-cuts.js";
import { StepThreads } from "./step-threads.js";

export interface LlamaBackendOptions {
  readonly modelPath: string;
  readonly slots: number;
  readonly slotContextSize: number;
  readonly batchSize: number;
  /** llama.cpp threads for single-token steps. */
  readonly threads: number;
  /** llama.cpp threads for multi-token steps (batched decodes, prefill chunks). */
  readonly threadsBatch: number;
  readonly gpu: "auto" | "cuda" | "vulkan" | "cpu";
  readonly gpuLayers: number | "max";
  /** "never": ignore a local native/ build and use the prebuilt binary. */
  readonly nativeBuild: "auto" | "never";
  readonly log: (level: "error" | "warn" | "info" | "debug", message: string) => void;
}

export async function loadLlamaBackend(opts: LlamaBackendOptions): Promise<LlamaBackend> {
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
  const context = await model.createContext({
    sequences: opts.slots,
    contextSize: opts.slotContextSize,
    batchSize: opts.batchSize,
    threads: Math.max(opts.threads, opts.threadsBatch),
  });
  const threads = new StepThreads(context, opts.threads, opts.threadsBatch, opts.log);
  const sequences: LlamaContextSequence[] = [];
  for (let i = 0; i < opts.slots; i++) sequences.push(context.getSequence());
  return new LlamaBackend(llama, model, context, sequences, threads, opts);
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
  readonly info: ModelInfo;
  private readonly eogBias = new WeakMap<SequenceSampling, TokenBias>();
  private readonly generators: (AsyncGenerator<GenOutput, void, Token | Token[] | undefined> | null)[];
  private readonly emptyBias: TokenBias;
  private readonly plainBias = new WeakMap<SequenceSampling, TokenBias | null>();
  private readonly tokenizeCut: Tokenize;

  constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequences: readonly LlamaContextSequence[],
    private readonly threads: StepThreads,
    opts: LlamaBackendOptions,
  ) {
    const tokens = model.tokens;
    this.generators = sequences.map(() => null);
    this.emptyBias = new TokenBias(model.tokenizer);
    this.tokenizeCut = cutTokenizer(model);
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
      maxTokenBytes: maxTokenBytes(model),
    };
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

  kvCellsUsed(): number {
    return this.sequences.reduce((n, s) => n + s.nextTokenIndex, 0);
  }

  async step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult> {
    await this.truncateToPlan(plan.entries);
    this.threads.useFor(plan.decodeTokens + plan.prefillTokens);
    // Every entry is queued in this same tick, so node-llama-cpp dispatches them as one llama_decode.
    const pending = plan.entries.map((e) => this.advance(e, e.sample ? sampling(e.seqId) : null));
    const outputs = await Promise.all(pending);
    const sampled = new Map<string, SampledToken>();
    plan.entries.forEach((e, i) => {
      const out = outputs[i];
      if (out !== undefined) sampled.set(e.seqId, toSampled(out, sampling(e.seqId)));
    });
    return { sampled };
  }

  /** The sequence in this slot is done: close its generator (which disposes its sampler). KV stays for reuse. */
  endSequence(slot: number): void {
    const gen = this.generators[slot];
    this.generators[slot] = null;
    if (gen) void gen.return(undefined).catch(() => {});
  }

  /** A slot may hold KV beyond what the plan reuses (previous occupant's tail): erase it before evaluating. */
  private async truncateToPlan(entries: readonly StepEntry[]): Promise<void> {
    const erases: Promise<void>[] = [];
    for (const e of entries) {
      if (this.generators[e.slot]) continue; // a live generator owns its sequence's positions
      const seq = this.sequences[e.slot] as LlamaContextSequence;
      if (seq.nextTokenIndex !== e.start) {
        erases.push(seq.eraseContextTokenRanges([{ start: e.start, end: seq.nextTokenIndex }]));
      }
    }
    if (erases.length > 0) await Promise.all(erases);
  }

  /**
   * Prefill chunks are evaluated without sampling. The chunk that ends the prompt starts the sequence's generator,
   * which keeps one sampler (and RNG) for the whole generation: node-llama-cpp's controlledEvaluate would build a
   * new native sampler on every call, measured at ~0.6 ms each, 16 per step at 16 streams.
   */
  private async advance(e: StepEntry, s: SequenceSampling | null): Promise<GenOutput | undefined> {
    const seq = this.sequences[e.slot] as LlamaContextSequence;
    if (s === null) {
      await seq.evaluateWithoutGeneratingNewTokens(e.tokens as Token[]);
      return undefined;
    }
    let gen = this.generators[e.slot];
    if (!gen) {
      gen = seq.evaluateWithMetadata(e.tokens as Token[], { probabilities: s.logprobs !== null }, this.evaluateOptions(s));
      this.generators[e.slot] = gen;
    }
    const next = await gen.next();
    if (next.done === true) throw new Error("llama.cpp ended the generation unexpectedly");
    return next.value;
  }

  private evaluateOptions(s: SequenceSampling): NonNullable<Parameters<LlamaContextSequence["evaluateWithMetadata"]>[2]> {
    const penalties = needsPenalties(s.params)
      ? {
          repeatPenalty: {
            punishTokens: () => s.outputTokens as Token[],
            penalty: s.params.repetitionPenalty,
            presencePenalty: s.params.presencePenalty,
            frequencyPenalty: s.params.frequencyPenalty,
            maxPunishTokens: 256,
          },
        }
      : {};
    const needsBias = s.params.logitBias.length > 0 || s.suppressEog;
    return {
      ...nativeSamplerOptions(s.params),
      ...penalties,
      // Re-read every step, so min_tokens can lift the EOS mask mid-generation.
      ...(needsBias ? { tokenBias: () => this.biasFor(s) ?? this.emptyBias } : {}),
      yieldEogToken: true,
    };
  }

  private biasFor(s: SequenceSampling): TokenBias | null {
    if (s.suppressEog) {
      let b = this.eogBias.get(s);
      if (b === undefined) {
        b = this.buildBias(s, true);
        this.eogBias.set(s, b);
      }
      return b;
    }
    let b = this.plainBias.get(s);
    if (b === undefined) {
      b = s.params.logitBias.length === 0 ? null : this.buildBias(s, false);
      this.plainBias.set(s, b);
    }
    return b;
  }

  private buildBias(s: SequenceSampling, suppressEog: boolean): TokenBias {
    const bias = new TokenBias(this.model.tokenizer);
    for (const [token, value] of s.params.logitBias) bias.set(token as Token, { logit: value });
    if (suppressEog) {
      // TokenBias.set() silently skips EOG tokens; ignore_eos/min_tokens need exactly those masked, so write the
      // bias map directly (an internal field, pinned by the ignore_eos integration test).
      const map = (bias as unknown as { _biases: Map<Token, number> })._biases;
      for (const t of this.eogTokens()) map.set(t, Number.NEGATIVE_INFINITY);
    }
    return bias;
  }

  private eogTokens(): Token[] {
    const t = this.model.tokens;
    return [t.eos, t.eot].filter((x): x is Token => x !== null);
  }

  async dispose(): Promise<void> {
    this.generators.forEach((_, slot) => this.endSequence(slot));
    for (const s of this.sequences) s.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
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
    const cuts = safeCuts(text, special ? specials.parsed : specials.always, CUT_CHUNK_CHARS);
    return tokenizeAtCuts(text, cuts, (piece, first) => tokenizeText(model, piece, special, addBos && first));
  };
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

type GenOutput = { token: Token; probabilities?: Map<Token, number> };

function toSampled(out: GenOutput, s: SequenceSampling): SampledToken {
  const token = out.token;
  if (s.logprobs === null || out.probabilities === undefined) return { token };
  const probs = out.probabilities;
  const top: TopLogprob[] = [];
  for (const [t, p] of probs) {
    if (top.length >= s.logprobs) break;
    top.push({ token: t, logprob: logprobOf(p) });
  }
  return { token, logprob: logprobOf(probs.get(token) ?? 0), top };
}

// BatchExecutor: runs one StepPlan on llama.cpp through node-llama-cpp's native context (llama-addon.ts): the plan's
// KV operations, then every entry's tokens at their positions in llama_decode calls of at most n_ubatch tokens, each
// followed by one sample per planned position in it with the request's own sampler. It keeps no per-sequence state:
// positions, KV edits and sampled positions all come from the plan, and each request's native sampler is handed in
// with its SequenceSampling (created on first use, freed by release()), so its random stream is its own and batch
// neighbours never advance it.

import { copyFile, rename, rm, stat } from "node:fs/promises";
import { GrammarCache, type GrammarFactory } from "./grammar-cache.js";
import type { NativeContext, NativeGrammarState, NativeSampler, NativeSamplerConfig } from "./llama-addon.js";
import type { SequenceSampling } from "./model-backend.js";
import { logprobOf, nativeSamplerOptions, needsPenalties } from "./sampling-options.js";
import type { KvOp, SampledToken, StepEntry, StepPlan, StepResult, TopLogprob } from "./step-plan.js";
import { splitIntoUbatches, type Piece } from "./ubatch-split.js";

/** Output tokens the repetition penalties look back over (llama-server's default is 64; node-llama-cpp's, 64). */
const PENALTY_WINDOW = 256;

interface Bias {
  readonly keys: Uint32Array;
  readonly values: Float32Array;
}

export interface BatchExecutorOptions extends GrammarFactory {
  readonly context: NativeContext;
  readonly newSampler: () => NativeSampler;
  /** End-of-generation tokens, masked while a request may not stop (ignore_eos, min_tokens). */
  readonly eogTokens: readonly number[];
  readonly threads: number;
  readonly threadsBatch: number;
  /** Most tokens per llama_decode call: the context's n_ubatch (node-llama-cpp sets n_ubatch = n_batch). */
  readonly ubatchSize: number;
  /** KV cells per slot: the most tokens a restored file can hold. */
  readonly slotContextSize: number;
  /** Advances a grammar state by one token (a lazy grammar reading text the model already wrote). */
  readonly acceptGrammarToken: (state: NativeGrammarState, token: number) => void;
  /** A token whose text is exactly this one character, if the vocabulary has one. */
  readonly tokenForChar: (ch: string) => number | null;
}

/**
 * Samples of one greedy verify entry in flight at once, each on its own native sampler (a sampler's candidate buffer
 * must not be shared by two pool threads). Waiting for each sample before queueing the next cost a round trip
 * through the main thread per position: 33 positions of the 32,000-token margin model sampled in 8.1 ms one by one,
 * 3.0 ms with 4 in flight, on a loaded machine (about 1 ms of a 30 ms step saved on a quiet one).
 */
const GREEDY_LANES = 4;

/** A verify entry of this step, and whether a sample already differed from its draft. */
interface Verification {
  readonly entry: StepEntry;
  stopped: boolean;
}

export class BatchExecutor {
  private readonly samplers = new WeakMap<SequenceSampling, NativeSampler>();
  /** Extra samplers of a greedy request, for the lanes after the first (its own sampler). */
  private readonly lanes = new WeakMap<SequenceSampling, NativeSampler[]>();
  private readonly biases = new WeakMap<SequenceSampling, { suppressEog: boolean; bias: Bias | null }>();
  /** Each constrained request's own grammar state (and its grammar), advanced by the native sampler with every token it samples. */
  private readonly grammars = new WeakMap<SequenceSampling, { readonly grammar: string; readonly state: NativeGrammarState }>();
  readonly grammarCache: GrammarCache;

  constructor(private readonly opts: BatchExecutorOptions) {
    this.grammarCache = new GrammarCache(opts);
  }

  async step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult> {
    const saved = new Map<string, number>();
    for (const op of plan.kvOps) await this.runKvOp(op, saved);
    const sampled = new Map<string, SampledToken[]>();
    const verify = new Map<string, Verification>();
    for (const e of plan.entries) if (e.verify === true) verify.set(e.seqId, { entry: e, stopped: false });
    // A step may hold more tokens than one llama_decode (the context's n_ubatch): its parts run in order, each
    // sampled before the next decodes (the logits buffer is per call), so a sequence's positions keep their order.
    const configured = new Set<SequenceSampling>();
    const threadsBatch = plan.threads ?? this.opts.threadsBatch;
    for (const part of splitIntoUbatches(plan.entries, this.opts.ubatchSize)) await this.decodePart(part, threadsBatch, sampling, sampled, verify, configured);
    for (const v of verify.values()) this.eraseRejected(v.entry, sampled.get(v.entry.seqId)?.length ?? 0);
    return saved.size === 0 ? { sampled } : { sampled, saved };
  }

  /** A verify entry keeps start + accepted + 1 positions; the rejected drafts' cells go. */
  private eraseRejected(entry: StepEntry, samples: number): void {
    const keep = entry.start + samples;
    if (samples >= entry.tokens.length) return;
    if (!this.opts.context.removeTokenCellsFromSequence(entry.slot, keep, -1)) throw new Error(`could not erase rejected drafts of slot ${entry.slot}`);
  }

  private async decodePart(
    part: readonly Piece[],
    threadsBatch: number,
    sampling: (seqId: string) => SequenceSampling,
    sampled: Map<string, SampledToken[]>,
    verify: ReadonlyMap<string, Verification>,
    configured: Set<SequenceSampling>,
  ): Promise<void> {
    const ctx = this.opts.context;
    const total = part.reduce((n, p) => n + p.tokens.length, 0);
    ctx.initBatch(total);
    const logitIndexes = part.map((p) => ctx.addToBatch(p.slot, p.start, Uint32Array.from(p.tokens), Uint32Array.from(p.sampleAt)));
    // llama.cpp's rule for n_threads vs n_threads_batch: a single-token batch uses `threads`.
    ctx.setThreads(total > 1 ? threadsBatch : this.opts.threads);
    await ctx.decodeBatch();
    const pending: Promise<void>[] = [];
    part.forEach((p, i) => {
      const indexes = logitIndexes[i] as Uint32Array;
      if (indexes.length === 0) return;
      const s = sampling(p.seqId);
      // Configured once per step: a sequence split across calls keeps what its earlier samples taught the sampler.
      const sampler = configured.has(s) ? (this.samplers.get(s) as NativeSampler) : this.configured(s);
      configured.add(s);
      const out = sampled.get(p.seqId) ?? [];
      sampled.set(p.seqId, out);
      const v = verify.get(p.seqId);
      if (indexes.length > 1 && this.stateless(s)) {
        pending.push(this.sampleAhead(indexes, [sampler, ...this.laneSamplers(s)], s, out, v, p));
        return;
      }
      // One sampler per request: its positions are sampled in order (each sample advances its RNG and penalties).
      pending.push(
        (async () => {
          for (let k = 0; k < indexes.length; k++) {
            if (v?.stopped === true) return;
            const token = await this.sample(indexes[k] as number, sampler, s);
            out.push(token);
            // Verification: the draft fed after this position is the entry's next token; a different sample ends it.
            if (v !== undefined) v.stopped = v.entry.tokens[p.start - v.entry.start + (p.sampleAt[k] as number) + 1] !== token.token;
          }
        })(),
      );
    });
    await Promise.all(pending);
  }

  /**
   * Greedy sampling without penalties or a grammar reads and writes no sampler state (no random stream, no token
   * history), so its positions need not wait for each other and a sample past the first mismatch changes nothing.
   */
  private stateless(s: SequenceSampling): boolean {
    return s.params.temperature === 0 && !needsPenalties(s.params) && (s.grammar === undefined || s.grammar === null);
  }

  /** The request's extra lane samplers, configured as its own for this step. */
  private laneSamplers(s: SequenceSampling): NativeSampler[] {
    let lanes = this.lanes.get(s);
    if (lanes === undefined) {
      lanes = Array.from({ length: GREEDY_LANES - 1 }, () => this.opts.newSampler());
      this.lanes.set(s, lanes);
    }
    const config = this.configFor(s);
    for (const lane of lanes) lane.applyConfig(config);
    return lanes;
  }

  /**
   * Positions sampled with up to one sample in flight per lane; tokens are taken in order and stop after the first
   * that differs from its draft. Samples still in flight then are awaited (they read this call's logits) and dropped.
   */
  private async sampleAhead(
    indexes: Uint32Array,
    lanes: readonly NativeSampler[],
    s: SequenceSampling,
    out: SampledToken[],
    v: Verification | undefined,
    p: Piece,
  ): Promise<void> {
    if (v?.stopped === true) return;
    const inFlight: Promise<SampledToken>[] = [];
    const launch = (k: number): void => {
      inFlight[k] = this.sample(indexes[k] as number, lanes[k % lanes.length] as NativeSampler, s);
    };
    for (let k = 0; k < Math.min(lanes.length, indexes.length); k++) launch(k);
    try {
      for (let k = 0; k < indexes.length && v?.stopped !== true; k++) {
        const token = await (inFlight[k] as Promise<SampledToken>);
        out.push(token);
        if (v !== undefined) v.stopped = v.entry.tokens[p.start - v.entry.start + (p.sampleAt[k] as number) + 1] !== token.token;
        if (k + lanes.length < indexes.length && v?.stopped !== true) launch(k + lanes.length);
      }
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  /** Free the native sampler of a request that finished. */
  release(s: SequenceSampling): void {
    this.samplers.get(s)?.dispose();
    this.samplers.delete(s);
    for (const lane of this.lanes.get(s) ?? []) lane.dispose();
    this.lanes.delete(s);
    this.biases.delete(s);
    this.grammars.delete(s);
  }

  /** KV cells in use in one slot (positions 0..max are held). */
  cellsUsed(slot: number): number {
    return this.opts.context.getSequenceKvCacheMaxPosition(slot) + 1;
  }

  private async runKvOp(op: KvOp, saved: Map<string, number>): Promise<void> {
    const ctx = this.opts.context;
    switch (op.kind) {
      case "erase":
        if (!ctx.removeTokenCellsFromSequence(op.slot, op.from, op.to ?? -1)) throw new Error(`could not erase KV of slot ${op.slot} from ${op.from}`);
        return;
      case "copy":
        await ctx.copySequenceStateFromOtherSequence(op.toSlot, op.fromSlot);
        return;
      case "save":
        // A save that fails (the tier's disk is full) only loses the cache entry: it is reported by its absence.
        try {
          saved.set(op.path, await ctx.saveSequenceStateToFile(op.path, op.slot, Uint32Array.from(op.tokens)));
        } catch {
          await rm(op.path, { force: true });
        }
        return;
      case "restore":
        await ctx.loadSequenceStateFromFile(op.path, op.slot, this.opts.slotContextSize);
        return;
      case "drop":
        await rm(op.path, { force: true });
        return;
      case "move": {
        const size = await moveFile(op.from, op.to);
        if (size !== null) saved.set(op.to, size);
      }
    }
  }

  private async sample(index: number, sampler: NativeSampler, s: SequenceSampling): Promise<SampledToken> {
    const ctx = this.opts.context;
    if (s.logprobs === null) return { token: checked(await ctx.sampleToken(index, sampler)) };
    const [token, probabilities] = await ctx.sampleToken(index, sampler, true);
    return withLogprobs(checked(token), probabilities ?? [], s.logprobs);
  }

  /** The request's sampler with this step's configuration (penalty history, EOG mask); unchanged parts are kept. */
  private configured(s: SequenceSampling): NativeSampler {
    let sampler = this.samplers.get(s);
    if (sampler === undefined) {
      sampler = this.opts.newSampler();
      this.samplers.set(s, sampler);
    }
    sampler.applyConfig(this.configFor(s));
    return sampler;
  }

  private configFor(s: SequenceSampling): NativeSamplerConfig {
    const p = s.params;
    const config: NativeSamplerConfig = { ...nativeSamplerOptions(p) };
    if (needsPenalties(p)) {
      config.repeatPenalty = p.repetitionPenalty;
      config.repeatPenaltyPresencePenalty = p.presencePenalty;
      config.repeatPenaltyFrequencyPenalty = p.frequencyPenalty;
      config.repeatPenaltyMaxTokens = PENALTY_WINDOW;
      config.repeatPenaltyTokens = Uint32Array.from(s.outputTokens.slice(-PENALTY_WINDOW));
    }
    const bias = this.biasFor(s);
    if (bias !== null) {
      config.tokenBiasKeys = bias.keys;
      config.tokenBiasValues = bias.values;
    }
    const grammar = this.grammarFor(s);
    if (grammar !== null) config.grammarEvaluationState = grammar;
    return config;
  }

  /**
   * The request's grammar state, cloned from the cached start state on its first sample (or when a lazy grammar was
   * armed), after reading the text it was armed with.
   */
  private grammarFor(s: SequenceSampling): NativeGrammarState | null {
    if (s.grammar === undefined || s.grammar === null) return null;
    const held = this.grammars.get(s);
    if (held !== undefined && held.grammar === s.grammar) return held.state;
    const state = this.grammarCache.fresh(s.grammar);
    const fed = s.grammarFed ?? "";
    s.grammarFed = undefined;
    if (!this.feed(state, fed)) {
      // Text the calls grammar cannot read (no single-character token, or off its syntax): the reply stays free.
      s.grammar = null;
      return null;
    }
    this.grammars.set(s, { grammar: s.grammar, state });
    return state;
  }

  /** Reads `text` into a grammar state one character token at a time; false when it cannot. */
  private feed(state: NativeGrammarState, text: string): boolean {
    for (const ch of text) {
      const token = this.opts.tokenForChar(ch);
      if (token === null) return false;
      try {
        this.opts.acceptGrammarToken(state, token);
      } catch {
        return false;
      }
    }
    return true;
  }

  /** logit_bias plus the EOG mask, built again only when suppressEog flips (once per request at most). */
  private biasFor(s: SequenceSampling): Bias | null {
    const cached = this.biases.get(s);
    if (cached !== undefined && cached.suppressEog === s.suppressEog) return cached.bias;
    const map = new Map<number, number>(s.params.logitBias);
    if (s.suppressEog) for (const t of this.opts.eogTokens) map.set(t, Number.NEGATIVE_INFINITY);
    const bias = map.size === 0 ? null : { keys: Uint32Array.from(map.keys()), values: Float32Array.from(map.values()) };
    this.biases.set(s, { suppressEog: s.suppressEog, bias });
    return bias;
  }
}

function checked(token: number): number {
  if (token < 0) throw new Error("llama.cpp sampled no token");
  return token;
}

/** The native sampler returns [token, probability, …] pairs, most probable first. */
function withLogprobs(token: number, pairs: readonly number[], top: number): SampledToken {
  const alternatives: TopLogprob[] = [];
  let own = 0;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const t = pairs[i] as number;
    const p = pairs[i + 1] as number;
    if (t === token) own = p;
    if (alternatives.length < top) alternatives.push({ token: t, logprob: logprobOf(p) });
    else if (own !== 0) break;
  }
  return { token, logprob: logprobOf(own), top: alternatives };
}

/**
 * A file into another directory: a rename on one filesystem, else a copy and delete (RAM tier → disk). Resolves to
 * its size when moved; a move that fails deletes both ends and resolves to null (the entry is lost, not the step).
 */
async function moveFile(from: string, to: string): Promise<number | null> {
  try {
    await rename(from, to).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "EXDEV") throw err;
      await copyFile(from, to);
      await rm(from, { force: true });
    });
    return (await stat(to)).size;
  } catch {
    await Promise.all([rm(from, { force: true }), rm(to, { force: true })]);
    return null;
  }
}

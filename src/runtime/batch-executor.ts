// BatchExecutor: runs one StepPlan on llama.cpp through node-llama-cpp's native context (llama-addon.ts): the plan's
// KV operations, then every entry's tokens at their positions in one llama_decode, then one sample per planned
// position with the request's own sampler. It keeps no per-sequence state: positions, KV edits and sampled positions
// all come from the plan, and each request's native sampler is handed in with its SequenceSampling (created on
// first use, freed by release()), so its random stream is its own and batch neighbours never advance it.

import type { NativeContext, NativeSampler, NativeSamplerConfig } from "./llama-addon.js";
import type { SequenceSampling } from "./model-backend.js";
import { logprobOf, nativeSamplerOptions, needsPenalties } from "./sampling-options.js";
import type { KvOp, SampledToken, StepPlan, StepResult, TopLogprob } from "./step-plan.js";

/** Output tokens the repetition penalties look back over (llama-server's default is 64; node-llama-cpp's, 64). */
const PENALTY_WINDOW = 256;

interface Bias {
  readonly keys: Uint32Array;
  readonly values: Float32Array;
}

export interface BatchExecutorOptions {
  readonly context: NativeContext;
  readonly newSampler: () => NativeSampler;
  /** End-of-generation tokens, masked while a request may not stop (ignore_eos, min_tokens). */
  readonly eogTokens: readonly number[];
  readonly threads: number;
  readonly threadsBatch: number;
}

export class BatchExecutor {
  private readonly samplers = new WeakMap<SequenceSampling, NativeSampler>();
  private readonly biases = new WeakMap<SequenceSampling, { suppressEog: boolean; bias: Bias | null }>();

  constructor(private readonly opts: BatchExecutorOptions) {}

  async step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult> {
    const ctx = this.opts.context;
    for (const op of plan.kvOps) await this.runKvOp(op);
    const total = plan.entries.reduce((n, e) => n + e.tokens.length, 0);
    const sampled = new Map<string, SampledToken[]>();
    if (total === 0) return { sampled };
    ctx.initBatch(total);
    const logitIndexes = plan.entries.map((e) => ctx.addToBatch(e.slot, e.start, Uint32Array.from(e.tokens), Uint32Array.from(e.sampleAt)));
    // llama.cpp's rule for n_threads vs n_threads_batch: a single-token batch uses `threads`.
    ctx.setThreads(total > 1 ? this.opts.threadsBatch : this.opts.threads);
    await ctx.decodeBatch();
    const pending: Promise<void>[] = [];
    plan.entries.forEach((e, i) => {
      const indexes = logitIndexes[i] as Uint32Array;
      if (indexes.length === 0) return;
      const s = sampling(e.seqId);
      const sampler = this.configured(s);
      const out: SampledToken[] = [];
      sampled.set(e.seqId, out);
      // One sampler per request: its positions are sampled in order (each sample advances its RNG and penalties).
      pending.push(
        (async () => {
          for (const index of indexes) out.push(await this.sample(index, sampler, s));
        })(),
      );
    });
    await Promise.all(pending);
    return { sampled };
  }

  /** Free the native sampler of a request that finished. */
  release(s: SequenceSampling): void {
    this.samplers.get(s)?.dispose();
    this.samplers.delete(s);
    this.biases.delete(s);
  }

  /** KV cells in use in one slot (positions 0..max are held). */
  cellsUsed(slot: number): number {
    return this.opts.context.getSequenceKvCacheMaxPosition(slot) + 1;
  }

  private async runKvOp(op: KvOp): Promise<void> {
    const ctx = this.opts.context;
    if (op.kind === "erase") {
      if (!ctx.removeTokenCellsFromSequence(op.slot, op.from, op.to ?? -1)) throw new Error(`could not erase KV of slot ${op.slot} from ${op.from}`);
      return;
    }
    await ctx.copySequenceStateFromOtherSequence(op.toSlot, op.fromSlot);
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
    return config;
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

// The executor's verify path on a fake native context whose "model" answers each position with its token + 1: a
// verify entry is sampled in order until a sample differs from the draft fed after it, the rejected drafts' KV cells
// are erased before the step returns, an entry cut across llama_decode calls verifies the same, a request's sampler
// is configured once per step (a second configuration would reset what its earlier samples taught it), and only
// stateless (greedy) sampling has several positions in flight, never two on one sampler.
import { describe, expect, it } from "vitest";
import { BatchExecutor } from "../../../src/runtime/batch-executor.js";
import type { NativeContext, NativeGrammarState, NativeSampler } from "../../../src/runtime/llama-addon.js";
import type { SequenceSampling } from "../../../src/runtime/model-backend.js";
import { DEFAULT_SAMPLING } from "../../../src/request/generate-request.js";
import type { StepEntry } from "../../../src/runtime/step-plan.js";

class FakeContext {
  /** Per batch index: the token fed there. */
  private batch: number[] = [];
  private logits: number[] = [];
  readonly erased: [number, number, number][] = [];
  samples = 0;
  /** Samplers with a sample in flight, and the most samples in flight at once. */
  private readonly busy = new Set<NativeSampler>();
  maxInFlight = 0;
  sharedSampler = false;

  initBatch(): void {
    this.batch = [];
    this.logits = [];
  }
  addToBatch(_seq: number, _pos: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array {
    const base = this.batch.length;
    this.batch.push(...tokens);
    return Uint32Array.from([...logitIndexes].map((i) => this.logits.push(base + i) - 1));
  }
  decodeBatch(): Promise<void> {
    return Promise.resolve();
  }
  /** Answers on a later macrotask, as the native pool does, so samples queued together are in flight together. */
  async sampleToken(index: number, sampler: NativeSampler): Promise<number> {
    this.samples++;
    if (this.busy.has(sampler)) this.sharedSampler = true;
    this.busy.add(sampler);
    this.maxInFlight = Math.max(this.maxInFlight, this.busy.size);
    await new Promise((resolve) => setImmediate(resolve));
    this.busy.delete(sampler);
    return (this.batch[this.logits[index] as number] as number) + 1;
  }
  removeTokenCellsFromSequence(seq: number, from: number, to: number): boolean {
    this.erased.push([seq, from, to]);
    return true;
  }
  setThreads(): void {}
}

function setup(ubatch: number): { ex: BatchExecutor; ctx: FakeContext; configs: () => number } {
  const ctx = new FakeContext();
  let configs = 0;
  const sampler = (): NativeSampler => ({ applyConfig: () => void configs++, dispose: () => {} });
  const ex = new BatchExecutor({
    context: ctx as unknown as NativeContext,
    newSampler: sampler,
    eogTokens: [],
    threads: 1,
    threadsBatch: 1,
    ubatchSize: ubatch,
    slotContextSize: 100,
    newGrammarState: () => ({}) as NativeGrammarState,
    cloneGrammarState: (s) => s,
    acceptGrammarToken: () => {},
    tokenForChar: () => null,
  });
  return { ex, ctx, configs: () => configs };
}

const greedy: SequenceSampling = { params: { ...DEFAULT_SAMPLING, temperature: 0 }, logprobs: null, suppressEog: false, outputTokens: [] };
/** Sampling with a random stream: every sample advances it, so positions are sampled one after another. */
const random: SequenceSampling = { params: { ...DEFAULT_SAMPLING, temperature: 0.8 }, logprobs: null, suppressEog: false, outputTokens: [] };

function verify(tokens: number[]): StepEntry {
  return { seqId: "v", slot: 3, start: 20, tokens, sampleAt: tokens.map((_, i) => i), outputIndex: 0, verify: true };
}

const plan = (entries: StepEntry[]) => ({ step: 1, kvOps: [], entries, decodeTokens: 0, prefillTokens: 0 });

describe("BatchExecutor verify entries", () => {
  it("samples until the first token that differs from its draft, and erases the rejected drafts' KV", async () => {
    for (const sampling of [greedy, random]) {
      for (const ubatch of [64, 2, 1]) {
        const { ex, ctx, configs } = setup(ubatch);
        // Each sequence its own record (the executor keeps one native sampler per record).
        const records = new Map([
          ["d", { ...sampling }],
          ["v", { ...sampling }],
        ]);
        const r = await ex.step(
          plan([{ seqId: "d", slot: 0, start: 4, tokens: [40], sampleAt: [0], outputIndex: 0 }, verify([5, 6, 7, 9, 10])]),
          (id) => records.get(id) as SequenceSampling,
        );
        const label = `temperature ${sampling.params.temperature}, ubatch ${ubatch}`;
        expect(
          r.sampled.get("v")?.map((s) => s.token),
          label,
        ).toEqual([6, 7, 8]);
        expect(r.sampled.get("d")?.map((s) => s.token)).toEqual([41]);
        expect(ctx.erased).toEqual([[3, 23, -1]]);
        expect(ctx.sharedSampler, label).toBe(false);
        if (sampling === random) {
          // 1 + 3 samples: the positions after the rejection are never sampled, and each sampler is configured once
          // per step (a second configuration would reset what its earlier samples taught it).
          expect(ctx.samples, label).toBe(4);
          expect(configs(), label).toBe(2);
        }
      }
    }
  });

  it("a random stream's positions are sampled one at a time; greedy ones up to 4 at once, each on its own sampler", async () => {
    const tokens = [5, 6, 7, 8, 9, 10, 11, 12, 13];
    const one = setup(64);
    await one.ex.step(plan([verify(tokens)]), () => random);
    expect(one.ctx.maxInFlight).toBe(1);
    const ahead = setup(64);
    const r = await ahead.ex.step(plan([verify(tokens)]), () => greedy);
    expect(r.sampled.get("v")?.map((s) => s.token)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(ahead.ctx.maxInFlight).toBe(4);
    expect(ahead.ctx.sharedSampler).toBe(false);
    // Greedy with a repetition penalty keeps a token history: one at a time again.
    const penalised = setup(64);
    await penalised.ex.step(plan([verify(tokens)]), () => ({ ...greedy, params: { ...greedy.params, repetitionPenalty: 1.1 } }));
    expect(penalised.ctx.maxInFlight).toBe(1);
  });

  it("every draft accepted: one sample per position (the last is the target's own next token), nothing erased", async () => {
    for (const sampling of [greedy, random]) {
      const { ex, ctx } = setup(3);
      const r = await ex.step(plan([verify([5, 6, 7, 8])]), () => sampling);
      expect(r.sampled.get("v")?.map((s) => s.token)).toEqual([6, 7, 8, 9]);
      expect(ctx.erased).toEqual([]);
    }
  });
});

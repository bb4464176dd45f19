// The executor's verify path on a fake native context whose "model" answers each position with its token + 1: a
// verify entry is sampled in order until a sample differs from the draft fed after it, the rejected drafts' KV cells
// are erased before the step returns, an entry cut across llama_decode calls verifies the same, and a request's
// sampler is configured once per step (a second configuration would reset what its earlier samples taught it).
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
  sampleToken(index: number): Promise<number> {
    this.samples++;
    return Promise.resolve((this.batch[this.logits[index] as number] as number) + 1);
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

const sampling: SequenceSampling = { params: { ...DEFAULT_SAMPLING, temperature: 0 }, logprobs: null, suppressEog: false, outputTokens: [] };

function verify(tokens: number[]): StepEntry {
  return { seqId: "v", slot: 3, start: 20, tokens, sampleAt: tokens.map((_, i) => i), outputIndex: 0, verify: true };
}

const plan = (entries: StepEntry[]) => ({ step: 1, kvOps: [], entries, decodeTokens: 0, prefillTokens: 0 });

describe("BatchExecutor verify entries", () => {
  it("samples until the first token that differs from its draft, and erases the rejected drafts' KV", async () => {
    for (const ubatch of [64, 2, 1]) {
      const { ex, ctx, configs } = setup(ubatch);
      const r = await ex.step(plan([{ seqId: "d", slot: 0, start: 4, tokens: [40], sampleAt: [0], outputIndex: 0 }, verify([5, 6, 7, 9, 10])]), () => sampling);
      expect(
        r.sampled.get("v")?.map((s) => s.token),
        `ubatch ${ubatch}`,
      ).toEqual([6, 7, 8]);
      expect(r.sampled.get("d")?.map((s) => s.token)).toEqual([41]);
      // 1 + 3 samples: the positions after the rejection are never sampled.
      expect(ctx.samples).toBe(4);
      expect(ctx.erased).toEqual([[3, 23, -1]]);
      expect(configs()).toBe(1);
    }
  });

  it("every draft accepted: one sample per position (the last is the target's own next token), nothing erased", async () => {
    const { ex, ctx } = setup(3);
    const r = await ex.step(plan([verify([5, 6, 7, 8])]), () => sampling);
    expect(r.sampled.get("v")?.map((s) => s.token)).toEqual([6, 7, 8, 9]);
    expect(ctx.erased).toEqual([]);
  });
});

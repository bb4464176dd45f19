// The n-gram proposer against a brute-force reference: for random token streams that repeat themselves, its drafts
// are the continuation of the latest earlier occurrence of the longest matching suffix (maxN down to minN), grown
// incrementally as tokens are appended, exactly as a full rescan would find them.
import { describe, expect, it } from "vitest";
import { NgramProposer } from "../../../../src/engine-worker/speculation/ngram-proposer.js";
import { Sequence } from "../../../../src/engine-worker/sequence.js";

function reference(tokens: readonly number[], k: number, minN: number, maxN: number): number[] {
  const total = tokens.length;
  for (let n = Math.min(maxN, total - 1); n >= minN; n--) {
    const suffix = tokens.slice(total - n);
    for (let end = total - 1; end >= n; end--) {
      if (suffix.every((t, i) => tokens[end - n + i] === t)) return tokens.slice(end, Math.min(total, end + k));
    }
  }
  return [];
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe("NgramProposer", () => {
  it("proposes what a full rescan finds, as the sequence grows", () => {
    const rand = prng(7);
    for (let trial = 0; trial < 40; trial++) {
      const prompt = Array.from({ length: 30 + Math.floor(rand() * 30) }, () => Math.floor(rand() * 6));
      const seq = new Sequence({ id: `s${trial}`, promptTokens: prompt, maxNewTokens: 100, arrivalStep: 0 });
      seq.transition("prefilling");
      seq.transition("decoding");
      const proposer = new NgramProposer({ minN: 1 + (trial % 2), maxN: 4 });
      for (let step = 0; step < 40; step++) {
        const k = 1 + (step % 6);
        const all = [...prompt, ...seq.outputTokens];
        expect(proposer.lookup(seq, k), `trial ${trial} step ${step}`).toEqual(reference(all, k, 1 + (trial % 2), 4));
        seq.appendOutput(Math.floor(rand() * 6));
      }
    }
  });

  it("copies a repeated passage and proposes nothing without a match", async () => {
    const passage = [11, 12, 13, 14, 15, 16, 17, 18];
    const seq = new Sequence({ id: "copy", promptTokens: [...passage, 99, 11, 12, 13], maxNewTokens: 10, arrivalStep: 0 });
    const proposer = new NgramProposer();
    const drafts = await proposer.propose([{ seq, k: 4 }]);
    expect(drafts.get("copy")).toEqual([14, 15, 16, 17]);
    const fresh = new Sequence({ id: "fresh", promptTokens: [1, 2, 3, 4, 5], maxNewTokens: 10, arrivalStep: 0 });
    expect((await proposer.propose([{ seq: fresh, k: 4 }])).has("fresh")).toBe(false);
    proposer.forget(seq);
  });
});

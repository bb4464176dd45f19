// Speculator exploration: where the policy never drafts (each extra token costs what a decode does), a look is still
// taken after 8 steps, then 16, 32, … up to every 256; never on every step once the longest interval has passed.
// A policy that drafts again restarts the intervals at 8; each batch size keeps its own.
import { describe, expect, it } from "vitest";
import { Sequence } from "../../../../src/engine-worker/sequence.js";
import type { DraftRequest, Proposer } from "../../../../src/engine-worker/speculation/proposer.js";
import { Speculator } from "../../../../src/engine-worker/speculation/speculator.js";
import type { StepCosts } from "../../../../src/engine-worker/speculation/spec-policy.js";

/** Proposes k copies of token 7 at a fixed cost per draft. */
class FixedProposer implements Proposer {
  readonly name = "draft" as const;
  constructor(private readonly ms: number) {}
  propose(requests: readonly DraftRequest[]): Promise<ReadonlyMap<string, readonly number[]>> {
    return Promise.resolve(new Map(requests.map((r) => [r.seq.id, Array.from({ length: r.k }, () => 7)])));
  }
  msPerDraftToken(): number {
    return this.ms;
  }
  forget(): void {}
  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

const linear: StepCosts = { decodeMs: (n) => 10 * n };

/**
 * Steps (1-based) at which any of the sequences got drafts over `steps` steps; every draft is accepted (linear costs
 * never pay even so: k drafts gain at most k tokens for k decodes' time and the proposer's).
 */
async function lookSteps(speculator: Speculator, seqs: Sequence | readonly Sequence[], steps: number, costs: StepCosts): Promise<number[]> {
  const all = Array.isArray(seqs) ? seqs : [seqs as Sequence];
  const looks: number[] = [];
  for (let step = 1; step <= steps; step++) {
    await speculator.propose(all, () => true, costs);
    let looked = false;
    for (const seq of all) {
      if (seq.drafts.length === 0) continue;
      looked = true;
      speculator.verified(seq, seq.drafts.length, seq.drafts.length);
      seq.drafts = [];
    }
    if (looked) looks.push(step);
  }
  return looks;
}

const sequence = (id: string): Sequence => new Sequence({ id, promptTokens: [1, 2, 3], maxNewTokens: 100_000, arrivalStep: 0 });

describe("Speculator exploration", () => {
  it("looks after 8, 16, 32, … steps without speculation, at most every 256, never every step", async () => {
    const speculator = new Speculator([new FixedProposer(1)], { nMax: 8, nMin: 1 });
    const seq = sequence("s");
    const looks = await lookSteps(speculator, seq, 2000, linear);
    const gaps = looks.map((s, i) => s - (looks[i - 1] ?? 0));
    expect(gaps.slice(0, 6)).toEqual([8, 16, 32, 64, 128, 256]);
    expect(gaps.slice(6).every((g) => g === 256)).toBe(true);
    expect(looks.length).toBe(Math.floor((2000 - 504) / 256) + 6);
  });

  it("a step the policy drafts on restarts the intervals at 8", async () => {
    const speculator = new Speculator([new FixedProposer(1)], { nMax: 8, nMin: 1 });
    const seq = sequence("s");
    expect((await lookSteps(speculator, seq, 600, linear)).length).toBe(6);
    // Flat costs: drafting pays, so the policy drafts on the next step.
    const flat: StepCosts = { decodeMs: (n) => 10 + 0.01 * n };
    expect(await lookSteps(speculator, seq, 1, flat)).toEqual([1]);
    expect((await lookSteps(speculator, seq, 24, linear)).slice(0, 2)).toEqual([8, 24]);
  });

  it("counts per batch size: drafting with one stream does not restart the looks at two", async () => {
    const speculator = new Speculator([new FixedProposer(1)], { nMax: 8, nMin: 1 });
    const [a, b] = [sequence("a"), sequence("b")];
    expect(await lookSteps(speculator, [a, b], 600, linear)).toHaveLength(6);
    expect(await lookSteps(speculator, a, 1, { decodeMs: (n) => 10 + 0.01 * n })).toEqual([1]);
    expect(await lookSteps(speculator, [a, b], 100, linear)).toEqual([]);
  });
});

// Speculator: between two steps of the engine loop, gives each decoding sequence that may speculate its drafts for
// the next step: the policy picks how many (from acceptance and measured costs), the proposers (in the configured
// order; the first with enough drafts wins) propose them, and the scheduler puts them in a verify entry. After a
// step it feeds each verified sequence's outcome back to the policy and the per-proposer counters.

import type { Sequence } from "../sequence.js";
import type { SpeculationCounts, SpeculationStats } from "../worker-messages.js";
import type { DraftRequest, Proposer, ProposerName } from "./proposer.js";
import { SpecPolicy, type SpecPolicyOptions, type StepCosts } from "./spec-policy.js";

/** One propose() asks the cost curve for the same few counts many times: each is computed once. */
function memoized(costs: StepCosts): StepCosts {
  const seen = new Map<number, number | null>();
  return {
    decodeMs: (n) => {
      if (!seen.has(n)) seen.set(n, costs.decodeMs(n));
      return seen.get(n) ?? null;
    },
  };
}

/**
 * With the policy saying no, one step speculates anyway after 8 steps, then 16, 32, … up to every 256: step costs
 * change (load, batch shape) and one measurement can be an outlier. Counted per batch size (sequences decoding), as
 * the cost curve says no at one size and yes at another: with one schedule, the steps a run's last streams drafted
 * on restarted it at 8 for the next run's 8 streams (14 looks in 390 steps, 4% of an 8-stream run at eps 0.02).
 */
const EXPLORE_FIRST = 8;
const EXPLORE_MAX = 256;
const EXPLORE_DRAFTS = 2;
/** A sequence's first verified steps, before its acceptance is known, are explored where drafting could pay. */
const EXPLORE_STEPS = 3;

export class Speculator {
  private readonly policy: SpecPolicy;
  /** Who proposed each sequence's pending drafts. */
  private readonly pending = new Map<string, ProposerName>();
  private readonly counts: SpeculationStats = {};
  /** Per batch size: steps since the last speculation there, and looks in a row the policy did not take up. */
  private readonly exploring = new Map<number, { since: number; looks: number }>();

  constructor(
    private readonly proposers: readonly Proposer[],
    opts: SpecPolicyOptions,
  ) {
    this.policy = new SpecPolicy(opts);
  }

  get enabled(): boolean {
    return this.proposers.length > 0;
  }

  /**
   * Drafts for the next step. `decoding` are all sequences that will decode in it; `eligible` says which may
   * speculate (the request allows it, no min_tokens pending).
   */
  async propose(decoding: readonly Sequence[], eligible: (seq: Sequence) => boolean, costs: StepCosts): Promise<void> {
    if (!this.enabled || decoding.length === 0) return;
    const candidates = decoding.filter((s) => eligible(s) && s.maxNewTokens - s.outputTokens.length > 1);
    if (candidates.length === 0) return;
    const draftMs = Math.max(...this.proposers.map((p) => p.msPerDraftToken()));
    costs = memoized(costs);
    const lengths = this.policy.draftLengths(
      candidates.map((s) => ({ seqId: s.id, draftMs })),
      decoding.length,
      costs,
    );
    // `speculative: true`: these requests speculate whatever the cost policy says.
    for (const s of candidates) if (s.speculation === "on" && !lengths.has(s.id)) lengths.set(s.id, this.policy.opts.nMax);
    this.explore(candidates, lengths, decoding.length, costs, draftMs);
    if (lengths.size === 0) return;
    // Never more drafts than the output may still grow by (the last token is the target's own).
    const room = (s: Sequence): number => Math.min(lengths.get(s.id) as number, s.maxNewTokens - s.outputTokens.length - 1);
    let left: DraftRequest[] = candidates.filter((s) => lengths.has(s.id)).map((seq) => ({ seq, k: room(seq) }));
    for (const proposer of this.proposers) {
      if (left.length === 0) break;
      const got = await proposer.propose(left);
      left = left.filter((r) => {
        const drafts = got.get(r.seq.id) ?? [];
        if (drafts.length === 0) this.policy.observeEmpty(r.seq.id);
        if (drafts.length < this.policy.opts.nMin) return true;
        r.seq.drafts = drafts.slice(0, r.k);
        this.pending.set(r.seq.id, proposer.name);
        return false;
      });
    }
  }

  /**
   * Looks the policy did not ask for, with EXPLORE_DRAFTS drafts: with free proposals (n-gram), a sequence with fewer
   * than EXPLORE_STEPS verified steps (its acceptance is a guess) where drafting could pay if every draft were
   * accepted; and, after 8, 16, 32, … up to 256 steps at this batch size without any speculation, the sequence that
   * accepts the most (step costs change with load and batch shape, and one measured step can be an outlier).
   */
  private explore(candidates: readonly Sequence[], lengths: Map<string, number>, decoding: number, costs: StepCosts, draftMs: number): void {
    const picked = lengths.size > 0;
    const k = Math.min(this.policy.opts.nMax, Math.max(this.policy.opts.nMin, EXPLORE_DRAFTS));
    // Only free proposals are tried on every new sequence: a draft model's first guesses for a sequence also pay for
    // catching its KV up with the whole prompt.
    for (const s of draftMs > 0 ? [] : candidates) {
      if (lengths.has(s.id) || this.policy.observed(s.id) >= EXPLORE_STEPS) continue;
      if (this.policy.couldPay({ seqId: s.id, draftMs }, decoding, costs)) lengths.set(s.id, k);
    }
    // Only the policy's own choices count as speculation for the interval: tries of new sequences do not.
    const at = this.exploring.get(decoding) ?? { since: 0, looks: 0 };
    this.exploring.set(decoding, at);
    if (picked) {
      [at.since, at.looks] = [0, 0];
      return;
    }
    if (++at.since < Math.min(EXPLORE_MAX, EXPLORE_FIRST * 2 ** at.looks) || lengths.size > 0) return;
    const best = candidates.reduce((a, b) => (this.policy.rate(b.id) > this.policy.rate(a.id) ? b : a));
    lengths.set(best.id, k);
    // The interval counts from this look: left running, it passed the longest interval once and every step after
    // explored (8 streams at eps 0.1 spent 300 steps in a row verifying 2 drafts at a loss: 0.68x of off).
    [at.since, at.looks] = [0, at.looks + 1];
  }

  /** After a step: `accepted` of the sequence's pending drafts matched (called for each verified sequence). */
  verified(seq: Sequence, drafted: number, accepted: number): void {
    const p = this.pending.get(seq.id);
    this.pending.delete(seq.id);
    if (p === undefined || drafted === 0) return;
    this.policy.observe(seq.id, drafted, accepted);
    const c = (this.counts[p] ??= { drafts: 0, draftTokens: 0, acceptedTokens: 0 });
    c.drafts++;
    c.draftTokens += drafted;
    c.acceptedTokens += accepted;
  }

  /** The sequence left the loop. */
  forget(seq: Sequence): void {
    this.pending.delete(seq.id);
    this.policy.forget(seq.id);
    for (const p of this.proposers) p.forget(seq);
  }

  stats(): SpeculationStats {
    const out: SpeculationStats = {};
    for (const [name, c] of Object.entries(this.counts) as [ProposerName, SpeculationCounts][]) out[name] = { ...c };
    return out;
  }

  async dispose(): Promise<void> {
    for (const p of this.proposers) await p.dispose();
  }
}

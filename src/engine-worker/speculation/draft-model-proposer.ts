// Draft-model proposer: a small model with the target's vocabulary, in the same worker, guesses the next k tokens of
// every speculating sequence greedily. Its context has one sequence per target slot; each proposal is k batched draft
// steps across all sequences: the first catches the draft's KV up with the sequence (its prompt on first use, then
// the tokens accepted since, erasing the draft's rejected guesses), each next one feeds the previous guess. Plans are
// built here, as the scheduler builds the target's; the draft backend keeps no state. Greedy drafts make the target's
// sample-and-compare verification exact (the chance of accepting a deterministic guess is the target's probability
// of it, and a rejection falls back to the target's own sample).

import { DEFAULT_SAMPLING, type SamplingParams } from "../../request/generate-request.js";
import type { ModelBackend, SequenceSampling } from "../../runtime/model-backend.js";
import type { KvOp, StepEntry } from "../../runtime/step-plan.js";
import type { Sequence } from "../sequence.js";
import type { DraftRequest, Proposer } from "./proposer.js";

const GREEDY: SamplingParams = { ...DEFAULT_SAMPLING, temperature: 0, topK: 0, topP: 1, minP: 0 };
const COST_EWMA = 0.2;

/** What one draft slot's KV holds. */
interface Held {
  scope: number;
  tokens: number[];
  /** A draft step failed: the slot may hold anything until its next use erases it. */
  unknown: boolean;
}

export class DraftModelProposer implements Proposer {
  readonly name = "draft" as const;
  private readonly held: Held[];
  private readonly samplings = new Map<string, SequenceSampling>();
  private steps = 0;
  private perTokenMs = 0;

  constructor(
    private readonly backend: ModelBackend,
    /** Ids from here on are not the target's (a draft vocabulary may be a little larger). */
    private readonly targetVocab: number = backend.info.vocabSize,
  ) {
    this.held = Array.from({ length: backend.info.slots }, () => ({ scope: 0, tokens: [], unknown: false }));
  }

  async propose(requests: readonly DraftRequest[]): Promise<ReadonlyMap<string, readonly number[]>> {
    try {
      return await this.guess(requests);
    } catch (err) {
      // What the draft's KV holds is unknown now: the next use of each slot erases it all.
      for (const held of this.held) [held.tokens, held.unknown] = [[], true];
      throw err;
    }
  }

  private async guess(requests: readonly DraftRequest[]): Promise<ReadonlyMap<string, readonly number[]>> {
    const drafts = new Map<string, number[]>();
    const live = requests.filter((r) => r.seq.slot !== null);
    let round = this.catchUp(live);
    // The cost per guess is timed over the rounds after the first: the first also catches the draft's KV up (a whole
    // prompt for a new sequence), which is not what another guess costs.
    let produced = 0;
    let guessMs = 0;
    let firstMs = 0;
    for (let i = 0; round.entries.length > 0; i++) {
      const t0 = performance.now();
      const result = await this.backend.step(
        { step: ++this.steps, kvOps: round.kvOps, entries: round.entries, decodeTokens: round.entries.length, prefillTokens: 0 },
        (id) => this.samplingFor(id),
      );
      if (i > 0) [guessMs, produced] = [guessMs + performance.now() - t0, produced + round.entries.length];
      // Nothing better measured yet: the first round stands in (an overestimate, corrected by later rounds).
      else if (this.perTokenMs === 0) firstMs = (performance.now() - t0) / Math.max(1, round.entries.length);
      const next: StepEntry[] = [];
      for (const r of live) {
        const token = result.sampled.get(r.seq.id)?.[0]?.token;
        // A guess the target's vocabulary does not have (a draft vocabulary up to 128 ids larger) ends the guesses.
        if (token === undefined || token >= this.targetVocab) continue;
        const list = drafts.get(r.seq.id) ?? [];
        list.push(token);
        drafts.set(r.seq.id, list);
        // A guessed end of generation ends the guesses: nothing after it would be verified.
        if (list.length >= r.k || this.backend.isEog(token)) continue;
        const held = this.held[r.seq.slot as number] as Held;
        next.push({ seqId: r.seq.id, slot: r.seq.slot as number, start: held.tokens.length, tokens: [token], sampleAt: [0], outputIndex: i + 1 });
        held.tokens.push(token);
      }
      round = { kvOps: [], entries: next };
    }
    if (produced === 0 && firstMs > 0) this.perTokenMs = firstMs;
    if (produced > 0) {
      const perToken = guessMs / produced;
      this.perTokenMs = this.perTokenMs === 0 ? perToken : this.perTokenMs + COST_EWMA * (perToken - this.perTokenMs);
    }
    return drafts;
  }

  msPerDraftToken(): number {
    return this.perTokenMs;
  }

  forget(seq: Sequence): void {
    const s = this.samplings.get(seq.id);
    if (s !== undefined) this.backend.releaseSampling(s);
    this.samplings.delete(seq.id);
  }

  async dispose(): Promise<void> {
    for (const s of this.samplings.values()) this.backend.releaseSampling(s);
    this.samplings.clear();
    await this.backend.dispose();
  }

  /**
   * The first draft step: per sequence, what its draft slot lacks of prompt and output (it keeps the longest common
   * prefix of the same cache scope, erasing the rest), ending in the sequence's newest token, which is sampled.
   */
  private catchUp(requests: readonly DraftRequest[]): { kvOps: KvOp[]; entries: StepEntry[] } {
    const kvOps: KvOp[] = [];
    const entries: StepEntry[] = [];
    for (const r of requests) {
      const seq = r.seq;
      const slot = seq.slot as number;
      const held = this.held[slot] as Held;
      const total = seq.totalTokens;
      let keep = held.scope === seq.cacheScope ? commonPrefix(held.tokens, seq, total) : 0;
      // The newest token is always fed: its logits give the first guess.
      keep = Math.min(keep, total - 1);
      if (keep < held.tokens.length || held.unknown) kvOps.push({ kind: "erase", slot, from: keep, to: null });
      held.unknown = false;
      const tokens: number[] = [];
      for (let i = keep; i < total; i++) tokens.push(seq.tokenAt(i));
      held.scope = seq.cacheScope;
      held.tokens.length = keep;
      held.tokens.push(...tokens);
      entries.push({ seqId: seq.id, slot, start: keep, tokens, sampleAt: [tokens.length - 1], outputIndex: 0 });
    }
    return { kvOps, entries };
  }

  private samplingFor(seqId: string): SequenceSampling {
    let s = this.samplings.get(seqId);
    if (s === undefined) {
      s = { params: GREEDY, logprobs: null, suppressEog: false, outputTokens: [], grammar: null };
      this.samplings.set(seqId, s);
    }
    return s;
  }
}

function commonPrefix(held: readonly number[], seq: Sequence, total: number): number {
  const n = Math.min(held.length, total);
  let i = 0;
  while (i < n && held[i] === seq.tokenAt(i)) i++;
  return i;
}

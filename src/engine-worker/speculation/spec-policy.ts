// SpecPolicy: how many drafts each sequence gets in the next step (0: none). Pure: measured costs come in.
//
// Each sequence's acceptance rate a (the chance a draft is accepted given the one before it was) is estimated from
// its own verified steps (decayed counts) and a prior worth one step: 1/2 until the sequence has been verified once,
// then the rate pooled over recent steps of every sequence. Requests of one workload accept alike, and a fixed prior
// of 1/2 cost each new request several short-draft steps where everyone accepted nearly all (5 drafts a step until
// its own count outweighed it). With a draft model a sequence's first look stays at 1/2: it also pays for catching
// the draft's KV up with the whole prompt, which the policy does not price, and a pooled prior there made 8 streams
// speculate on every new request at a loss. Free proposals (n-gram) take the pooled prior from the first look: on the
// copy workload every request's first verify carried 3 drafts and the next 23–32. Its j-th draft is expected to add
// a^j tokens. The step carries
// the K drafts with the best expected gain, K chosen for the most expected tokens per ms: (decodes + gain) /
// (decode-step time at decodes + K tokens, from the scheduler's measured curve, + the proposers' cost). The curve is
// flat where the hardware is memory-bound (a GPU, a small batch) and steep where it is compute-bound (a CPU at a
// large batch), so speculation turns itself off where verification costs as much as decoding: K = 0 unless it beats
// plain decoding. Where the curve is unknown beyond the current batch it is explored (the verify step measures it).

export interface SpecPolicyOptions {
  /** Most drafts per sequence per step (--spec-draft-n-max). */
  readonly nMax: number;
  /** Fewer drafts than this are not worth a verify entry (--spec-draft-n-min). */
  readonly nMin: number;
}

export interface StepCosts {
  /** Measured duration of a decode step of n tokens (ms); null when nothing has been measured. */
  decodeMs(n: number): number | null;
}

export interface Candidate {
  readonly seqId: string;
  /** What one of its drafts costs its proposer (ms). */
  readonly draftMs: number;
}

/** Decay per verified step of a sequence's acceptance counts: about the last 20 steps count. */
const DECAY = 0.95;
/** Decay per verified step (of any sequence) of the pooled counts: about the last 100 steps count. */
const POOL_DECAY = 0.99;
/** The prior's weight, in steps' worth of counts. */
const PRIOR_WEIGHT = 1;
/** The prior rate of a sequence not yet verified. */
const FIRST_PRIOR = 0.5;
/**
 * Sequences whose acceptance rates are this close count as alike: their draft lengths are levelled, since llama.cpp
 * runs consecutive sequences of equal token counts as one forward pass and each other length as another (8 verify
 * entries of 24 and 23 tokens took 143 ms as two passes; 8 of 23, 138 ms as one).
 */
const LEVEL_TOLERANCE = 0.02;
/** Drafts per sequence while no decode step has been measured yet. */
const UNMEASURED_DRAFTS = 2;

interface Acceptance {
  accepted: number;
  rejected: number;
  /** Verified steps seen (not decayed). */
  steps: number;
}

export class SpecPolicy {
  private readonly acceptance = new Map<string, Acceptance>();
  private readonly pool = { accepted: 0, rejected: 0 };

  constructor(readonly opts: SpecPolicyOptions) {
    if (!(opts.nMin >= 1 && opts.nMax >= opts.nMin)) throw new Error(`bad draft lengths: n-min ${opts.nMin}, n-max ${opts.nMax}`);
  }

  /** A verified step: `drafted` drafts, of which the first `accepted` matched. */
  observe(seqId: string, drafted: number, accepted: number): void {
    if (drafted === 0) return;
    const a = this.acceptance.get(seqId) ?? { accepted: 0, rejected: 0, steps: 0 };
    a.steps++;
    a.accepted = a.accepted * DECAY + accepted;
    a.rejected = a.rejected * DECAY + (accepted < drafted ? 1 : 0);
    this.acceptance.set(seqId, a);
    this.pool.accepted = this.pool.accepted * POOL_DECAY + accepted;
    this.pool.rejected = this.pool.rejected * POOL_DECAY + (accepted < drafted ? 1 : 0);
  }

  /** The proposer had nothing for this sequence: it counts as looked at (not as a rejection). */
  observeEmpty(seqId: string): void {
    const a = this.acceptance.get(seqId) ?? { accepted: 0, rejected: 0, steps: 0 };
    a.steps++;
    this.acceptance.set(seqId, a);
  }

  /** Verified steps of this sequence so far (and proposals that came back empty). */
  observed(seqId: string): number {
    return this.acceptance.get(seqId)?.steps ?? 0;
  }

  /**
   * Estimated chance that a draft is accepted given the one before it was; `free`: its drafts cost nothing to propose,
   * so its first look may take the pooled prior.
   */
  rate(seqId: string, override?: number, free = false): number {
    if (override !== undefined) return override;
    const a = this.acceptance.get(seqId) ?? { accepted: 0, rejected: 0, steps: 0 };
    const prior = (a.steps === 0 && !free ? FIRST_PRIOR : this.pooledRate()) * PRIOR_WEIGHT;
    return (a.accepted + prior) / (a.accepted + a.rejected + PRIOR_WEIGHT);
  }

  /** The acceptance rate over recent steps of all sequences (1/2 before any). */
  pooledRate(): number {
    return (this.pool.accepted + 0.5) / (this.pool.accepted + this.pool.rejected + 1);
  }

  forget(seqId: string): void {
    this.acceptance.delete(seqId);
  }

  /**
   * Draft lengths for the candidates, with `decoding` sequences decoding in the next step (candidates among them).
   * A candidate that gets fewer than nMin is absent.
   */
  draftLengths(candidates: readonly Candidate[], decoding: number, costs: StepCosts, assumedRate?: number): Map<string, number> {
    const k = new Map<string, number>();
    if (candidates.length === 0 || decoding === 0) return k;
    const base = costs.decodeMs(decoding);
    // Unmeasured: a short look (the step that follows measures the curve).
    if (base === null) {
      for (const c of candidates) k.set(c.seqId, Math.min(this.opts.nMax, Math.max(this.opts.nMin, UNMEASURED_DRAFTS)));
      return k;
    }
    // Every candidate's drafts in order of expected gain (a sequence's j-th after its (j-1)-th, since a^j falls with
    // j); the step verifies the best K of them, K chosen for the most expected tokens per ms.
    const drafts: { seqId: string; gain: number; ms: number }[] = [];
    const rates = new Map<string, number>();
    for (const c of candidates) {
      const a = this.rate(c.seqId, assumedRate, c.draftMs === 0);
      rates.set(c.seqId, a);
      for (let j = 1; j <= this.opts.nMax; j++) drafts.push({ seqId: c.seqId, gain: Math.pow(a, j), ms: c.draftMs });
    }
    drafts.sort((x, y) => y.gain - x.gain);
    let bestK = 0;
    let bestRate = decoding / Math.max(base, 1e-3);
    let gained = 0;
    let draftMs = 0;
    drafts.forEach((d, i) => {
      gained += d.gain;
      draftMs += d.ms;
      const ms = (costs.decodeMs(decoding + i + 1) ?? base) + draftMs;
      const rate = (decoding + gained) / Math.max(ms, 1e-3);
      if (rate > bestRate) [bestK, bestRate] = [i + 1, rate];
    });
    for (const d of drafts.slice(0, bestK)) k.set(d.seqId, (k.get(d.seqId) ?? 0) + 1);
    levelled(k, rates);
    for (const [id, n] of k) if (n < this.opts.nMin) k.delete(id);
    return k;
  }

  /** Whether drafting could pay here at all: the lengths if every draft were accepted. */
  couldPay(candidate: Candidate, decoding: number, costs: StepCosts): boolean {
    return this.draftLengths([candidate], decoding, costs, 1).size > 0;
  }
}

/**
 * Drafting sequences of alike rates all get their mean length: about the same drafts in all (a sequence's expected
 * tokens grow slower with each draft, so an even share of them expects no fewer), and each length is a pass.
 */
function levelled(k: Map<string, number>, rates: ReadonlyMap<string, number>): void {
  const ids = [...k.keys()].sort((x, y) => (rates.get(y) as number) - (rates.get(x) as number));
  for (let from = 0; from < ids.length;) {
    const top = rates.get(ids[from] as string) as number;
    let to = from + 1;
    while (to < ids.length && top - (rates.get(ids[to] as string) as number) <= LEVEL_TOLERANCE) to++;
    const group = ids.slice(from, to);
    const level = Math.round(group.reduce((n, id) => n + (k.get(id) as number), 0) / group.length);
    for (const id of group) k.set(id, level);
    from = to;
  }
}

// PrefillBudget: how many prompt tokens a step may prefill while other sequences are decoding. Pure (measured
// step times are passed in). A fixed chunk is wrong on every machine but one: 128 prompt tokens cost ~190 ms on 2 CPU
// cores (a 10× stall for streams decoding at 21 ms/step) and a few ms on a GPU. So the budget is steered by time:
// a step carrying prefill may take  target(d) = max(itlFactor × alone(d), itlFloorMs),  where alone(d) is what the same
// d decodes take without prefill. The floor exists because a relative bound alone is needlessly strict when few
// streams decode fast: one stream at 9 ms/token would hold 15 waiting prompts to 8-token chunks, for a speed no
// reader notices (50 ms/token is still 20 tokens/s).
//
// Both inputs are measured, never fitted jointly (a joint linear fit cannot separate the per-step cost from the
// per-token cost while every mixed step carries the same chunk, and then it stays stuck at that chunk):
// - alone(d): an EWMA of decode-only steps per d, interpolated between observed d. When nothing near d has been
//   seen, the next step is a decode-only probe (at most one per PROBE_INTERVAL steps).
// - the marginal prefill cost per token: (mixed step − alone(d)) / p, an EWMA over mixed steps; before any mixed
//   step, the per-token cost of whole-prompt steps (nothing decoding) × 1.5, else a MIN_CHUNK probe.
// When prompts waiting for their first token outnumber the decoding streams burstRatio to 1 (a burst of arrivals:
// 15 prompts behind the one that started first), protecting the few streams would cost many more users their first
// token: the step takes the whole batch, as when nothing decodes.
//
// A chunk is at most twice the largest one measured so far (the first is MIN_CHUNK), so an optimistic estimate
// costs one slowish step, not a stall.

export const MIN_CHUNK = 8;
const ALONE_EWMA = 0.2;
const COST_EWMA = 0.25;
/** Steps between decode-only probes when alone(d) is unknown near the current d. */
const PROBE_INTERVAL = 16;
/** Whole-prompt steps (no decodes) amortize the per-step cost over many tokens: a mixed step's tokens cost more. */
const COLD_COST_MARGIN = 1.5;

export interface PrefillBudgetOptions {
  /** Upper bound per step (and the whole budget when nothing decodes); 0 = unlimited, chunking off. */
  readonly maxChunk: number;
  /** A mixed step may take this × the same decodes alone; 0 = no time steering (fixed maxChunk). */
  readonly itlFactor: number;
  /** ... and may always take this many ms, however fast decode-only steps are. */
  readonly itlFloorMs?: number;
  /** Whole batch while prefilling sequences ≥ this × decoding ones; 0/absent = never. */
  readonly burstRatio?: number;
  readonly batchSize: number;
}

export class PrefillBudget {
  /** EWMA of decode-only step duration, by decode token count. */
  private readonly alone = new Map<number, number>();
  /** EWMA of a prefill token's marginal cost in a mixed step (ms), once one has been seen. */
  private perTokenMs: number | null = null;
  /** Per-token cost of whole-prompt steps (nothing decoding): a prior for the first mixed step. */
  private coldPerTokenMs: number | null = null;
  private largestMixedChunk = 0;
  private steps = 0;
  private lastProbe = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: PrefillBudgetOptions) {}

  /** Prefill tokens allowed in the next step, given its decode tokens and how many sequences await a first token. */
  budget(decodeTokens: number, prefilling = 0): number {
    if (this.opts.maxChunk === 0) return Number.POSITIVE_INFINITY;
    // With nothing decoding there is no stream to protect: prefill takes the whole batch.
    if (decodeTokens === 0) return this.opts.batchSize;
    const room = this.opts.batchSize - decodeTokens;
    const burst = this.opts.burstRatio ?? 0;
    if (burst > 0 && prefilling >= burst * decodeTokens) return room;
    if (this.opts.itlFactor > 0 && !this.knowsAloneNear(decodeTokens) && this.steps - this.lastProbe >= PROBE_INTERVAL) {
      this.lastProbe = this.steps;
      return 0; // one decode-only step measures alone(d); the prefill waits a step
    }
    return Math.max(1, Math.min(this.steered(decodeTokens), room));
  }

  /** Feed back a finished step: its decode and prefill token counts and how long it took. */
  observe(decodeTokens: number, prefillTokens: number, ms: number): void {
    this.steps++;
    if (this.opts.itlFactor <= 0 || !(ms > 0)) return;
    if (prefillTokens === 0) {
      if (decodeTokens > 0) this.observeAlone(decodeTokens, ms);
      return;
    }
    if (decodeTokens === 0) {
      this.coldPerTokenMs = ewma(this.coldPerTokenMs, ms / prefillTokens, COST_EWMA);
      return;
    }
    this.largestMixedChunk = Math.max(this.largestMixedChunk, prefillTokens);
    const base = this.aloneMs(decodeTokens);
    if (base === null) return;
    const prev = this.perTokenMs;
    let marginal = (ms - base) / prefillTokens;
    // One noisy step must not swing the estimate by more than 4× either way (or below zero).
    if (prev !== null) marginal = Math.min(prev * 4, Math.max(prev / 4, marginal));
    else if (!(marginal > 0)) return;
    this.perTokenMs = ewma(prev, marginal, COST_EWMA);
  }

  /** The chunk the measurements allow at `decodeTokens` (no side effects: also used for stats). */
  steered(decodeTokens: number): number {
    const max = this.opts.maxChunk === 0 ? this.opts.batchSize : Math.min(this.opts.maxChunk, this.opts.batchSize);
    if (this.opts.itlFactor <= 0) return max;
    const base = this.aloneMs(decodeTokens);
    const perToken = this.perTokenMs ?? (this.coldPerTokenMs === null ? null : this.coldPerTokenMs * COLD_COST_MARGIN);
    if (base === null || perToken === null || !(perToken > 0)) return MIN_CHUNK;
    const target = Math.max(this.opts.itlFactor * base, this.opts.itlFloorMs ?? 0);
    const allowed = Math.floor((target - base) / perToken);
    const growthCap = Math.max(MIN_CHUNK, 2 * this.largestMixedChunk);
    return Math.max(MIN_CHUNK, Math.min(max, growthCap, allowed));
  }

  /** Decode-only step time at d: observed, interpolated between observed counts, or extrapolated; null if none. */
  aloneMs(d: number): number | null {
    const exact = this.alone.get(d);
    if (exact !== undefined) return exact;
    let lo: [number, number] | null = null;
    let hi: [number, number] | null = null;
    for (const [k, v] of this.alone) {
      if (k < d && (lo === null || k > lo[0])) lo = [k, v];
      if (k > d && (hi === null || k < hi[0])) hi = [k, v];
    }
    if (lo !== null && hi !== null) return lo[1] + ((hi[1] - lo[1]) * (d - lo[0])) / (hi[0] - lo[0]);
    const end = lo ?? hi;
    if (end === null) return null;
    // Outside the observed range: the slope of the two outermost points on that side, never negative.
    return Math.max(0.1, end[1] + this.edgeSlope(end[0]) * (d - end[0]));
  }

  private edgeSlope(edge: number): number {
    let next: [number, number] | null = null;
    for (const [k, v] of this.alone) if (k !== edge && (next === null || Math.abs(k - edge) < Math.abs(next[0] - edge))) next = [k, v];
    if (next === null) return 0;
    return Math.max(0, ((this.alone.get(edge) as number) - next[1]) / (edge - next[0]));
  }

  private observeAlone(d: number, ms: number): void {
    this.alone.set(d, ewma(this.alone.get(d) ?? null, ms, ALONE_EWMA));
  }

  /** Whether a decode-only step has been seen within a quarter (at least 1) of d. */
  private knowsAloneNear(d: number): boolean {
    const tolerance = Math.max(1, Math.round(d / 4));
    for (const k of this.alone.keys()) if (Math.abs(k - d) <= tolerance) return true;
    return false;
  }
}

function ewma(prev: number | null, x: number, alpha: number): number {
  return prev === null ? x : prev + alpha * (x - prev);
}

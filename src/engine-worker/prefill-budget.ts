// PrefillBudget: how many prompt tokens a step may prefill while other sequences are decoding. Pure (measured
// step times are passed in). The operator states a latency target (--itl-target, ms): a step that carries both
// running streams' decodes and prefill should take at most that long, so streams see at most about that gap per
// token while new prompts are processed. A fixed chunk is wrong on every machine but one (128 prompt tokens cost
// ~140 ms on 2 CPU cores and a few ms on a GPU), so the chunk comes from measured costs:
//   chunk(d) = (target − alone(d)) / perToken,   clamped to [MIN_CHUNK, batch − d]
// where alone(d) is what d decodes take without prefill and perToken is a prefill token's marginal cost.
//
// Both inputs are measured, never fitted jointly (a joint linear fit cannot separate the per-step cost from the
// per-token cost while every mixed step carries the same chunk, and then it stays stuck at that chunk):
// - alone(d): decode-only steps' times by d (step-cost-curve.ts: a non-decreasing fit, interpolated between
//   observed d). When nothing near d has been seen, the next step is a decode-only probe (at most one per
//   PROBE_INTERVAL steps).
// - the marginal prefill cost per token: (mixed step − alone(d)) / p, an EWMA over mixed steps; before any mixed
//   step, the per-token cost of whole-prompt steps (nothing decoding) × 1.5. That one is (step − alone(1)) / p
//   averaged over recent steps by tokens, not by steps: a 3-token prompt's step is mostly the per-step cost, and
//   weighing it as much as a 300-token prompt's made prompt tokens look ten times dearer than they are.
// On a noisy machine step times jump: one step moves the per-token estimate by at most 2× either way before the
// EWMA, and a chunk is at most twice the largest one measured so far (the first is MIN_CHUNK), so an optimistic
// estimate costs one slowish step, not a stall, and a pessimistic one a few small chunks, not a starved prompt.

import { StepCostCurve } from "./step-cost-curve.js";

export const MIN_CHUNK = 16;
const COST_EWMA = 0.25;
/** Decay per whole-prompt step of the token-weighted sums behind the cold per-token cost. */
const COLD_DECAY = 0.75;
/** One step may move the per-token estimate by at most this factor either way. */
const MAX_SWING = 2;
/** Steps between decode-only probes when alone(d) is unknown near the current d. */
const PROBE_INTERVAL = 16;
/** Whole-prompt steps (no decodes) amortize the per-step cost over many tokens: a mixed step's tokens cost more. */
const COLD_COST_MARGIN = 1.5;

export interface PrefillBudgetOptions {
  /** Most tokens one step evaluates (decodes plus prefill). */
  readonly batchSize: number;
  /** A step carrying decodes and prefill aims to take at most this many ms; 0 = no target (fill the batch). */
  readonly itlTargetMs: number;
}

export class PrefillBudget {
  /** Decode-only step duration by decode token count. */
  private readonly alone = new StepCostCurve();
  /** EWMA of a prefill token's marginal cost in a mixed step (ms), once one has been seen. */
  private perTokenMs: number | null = null;
  /** Whole-prompt steps (nothing decoding), decayed: ms beyond a one-token step's, and prompt tokens. */
  private readonly cold = { ms: 0, tokens: 0 };
  private largestMixedChunk = 0;
  private steps = 0;
  private lastProbe = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: PrefillBudgetOptions) {}

  /** Prefill tokens allowed in the next step, given its decode tokens. */
  budget(decodeTokens: number): number {
    // With nothing decoding there is no stream to protect: prefill takes the whole batch.
    if (decodeTokens === 0) return this.opts.batchSize;
    const room = Math.max(0, this.opts.batchSize - decodeTokens);
    if (this.opts.itlTargetMs <= 0) return room;
    if (!this.knowsAloneNear(decodeTokens) && this.steps - this.lastProbe >= PROBE_INTERVAL) {
      this.lastProbe = this.steps;
      return 0; // one decode-only step measures alone(d); the prefill waits a step
    }
    return Math.min(this.steered(decodeTokens), room);
  }

  /** Feed back a finished step: its decode and prefill token counts and how long it took. */
  observe(decodeTokens: number, prefillTokens: number, ms: number): void {
    this.steps++;
    if (!(ms > 0)) return;
    if (prefillTokens === 0) {
      if (decodeTokens > 0) this.alone.observe(decodeTokens, ms);
      return;
    }
    if (decodeTokens === 0) {
      this.cold.ms = this.cold.ms * COLD_DECAY + Math.max(0, ms - (this.aloneMs(1) ?? 0));
      this.cold.tokens = this.cold.tokens * COLD_DECAY + prefillTokens;
      return;
    }
    this.largestMixedChunk = Math.max(this.largestMixedChunk, prefillTokens);
    const base = this.aloneMs(decodeTokens);
    if (base === null) return;
    const prev = this.perTokenMs;
    let marginal = (ms - base) / prefillTokens;
    if (prev !== null) marginal = Math.min(prev * MAX_SWING, Math.max(prev / MAX_SWING, marginal));
    else if (!(marginal > 0)) return;
    this.perTokenMs = ewma(prev, marginal, COST_EWMA);
  }

  /** The chunk the measurements allow at `decodeTokens` (no side effects: also used for stats). */
  steered(decodeTokens: number): number {
    const max = Math.max(MIN_CHUNK, this.opts.batchSize - decodeTokens);
    if (this.opts.itlTargetMs <= 0) return max;
    const base = this.aloneMs(decodeTokens);
    const cold = this.coldPerTokenMs();
    const perToken = this.perTokenMs ?? (cold === null ? null : cold * COLD_COST_MARGIN);
    if (base === null || perToken === null || !(perToken > 0)) return MIN_CHUNK;
    const allowed = Math.floor((this.opts.itlTargetMs - base) / perToken);
    const growthCap = Math.max(MIN_CHUNK, 2 * this.largestMixedChunk);
    return Math.max(MIN_CHUNK, Math.min(max, growthCap, allowed));
  }

  /** What one prompt token costs to compute (ms), as measured; null before any prefill was seen. */
  prefillTokenMs(): number | null {
    return this.coldPerTokenMs() ?? this.perTokenMs;
  }

  /** Per-token cost of whole-prompt steps; null before any. */
  private coldPerTokenMs(): number | null {
    return this.cold.tokens > 0 ? this.cold.ms / this.cold.tokens : null;
  }

  /** The most decode tokens a decode-only step was measured at; null before any. */
  largestDecodeMeasured(): number | null {
    return this.alone.largest();
  }

  /** Decode-only step time at d: observed, interpolated between observed counts, or extrapolated; null if none. */
  aloneMs(d: number): number | null {
    return this.alone.at(d);
  }

  /** Whether a decode-only step has been seen within a quarter (at least 1) of d. */
  private knowsAloneNear(d: number): boolean {
    return this.alone.knowsNear(d, Math.max(1, Math.round(d / 4)));
  }
}

function ewma(prev: number | null, x: number, alpha: number): number {
  return prev === null ? x : prev + alpha * (x - prev);
}

// PrefillBudget: how many prompt tokens a step may prefill while other sequences are decoding. Pure (measured
// step times are passed in). A fixed chunk is wrong on every machine but one: 128 prompt tokens cost ~190 ms on 2 CPU
// cores (a 10× stall for streams decoding at 21 ms/step) and a few ms on a GPU. So the budget is steered by time:
// a step carrying prefill should take at most `itlFactor` × what the same decodes would take alone.
//
// Two things are learned online. The target comes from decode-only steps actually observed with d decode tokens
// (an EWMA per d). The cost of a mixed step is fitted locally as  ms ≈ w0 + w1·d + w2·p  (recursive least squares
// with forgetting, so it follows the operating point). The budget solves  w0 + w1·d + w2·p = itlFactor · alone(d).
// (The linear fit alone would not do for the target: CPU step cost is concave in batch size, so its intercept
// overestimates a decode-only step; measured, that let mixed steps run at 3.5× instead of 2×.)
// Until prefill cost has been seen (w2 unknown) the budget is MIN_CHUNK: the first mixed steps are small probes.

export const MIN_CHUNK = 8;
/** RLS forgetting factor: ~50 steps of memory. */
const FORGET = 0.98;
const PRIOR = 1e4;
const ALONE_EWMA = 0.2;

export interface PrefillBudgetOptions {
  /** Upper bound per step (and the whole budget when nothing decodes); 0 = unlimited, chunking off. */
  readonly maxChunk: number;
  /** Target ratio of a mixed step's duration to the same decodes alone; 0 = no time steering (fixed maxChunk). */
  readonly itlFactor: number;
  readonly batchSize: number;
}

export class PrefillBudget {
  private readonly cost = new StepCostModel();
  /** EWMA of decode-only step duration, by decode token count. */
  private readonly alone = new Map<number, number>();
  private mixedSteps = 0;

  constructor(private readonly opts: PrefillBudgetOptions) {}

  /** Prefill tokens allowed in the next step, given how many decode tokens it already carries. */
  budget(decodeTokens: number): number {
    if (this.opts.maxChunk === 0) return Number.POSITIVE_INFINITY;
    // With nothing decoding there is no stream to protect: prefill takes the whole batch.
    if (decodeTokens === 0) return this.opts.batchSize;
    return Math.max(1, Math.min(this.steered(decodeTokens), this.opts.batchSize - decodeTokens));
  }

  /** Feed back a finished step: its decode and prefill token counts and how long it took. */
  observe(decodeTokens: number, prefillTokens: number, ms: number): void {
    if (this.opts.itlFactor <= 0 || !(ms > 0)) return;
    this.cost.observe(decodeTokens, prefillTokens, ms);
    if (decodeTokens > 0 && prefillTokens > 0) this.mixedSteps++;
    if (decodeTokens > 0 && prefillTokens === 0) {
      const prev = this.alone.get(decodeTokens);
      this.alone.set(decodeTokens, prev === undefined ? ms : prev + ALONE_EWMA * (ms - prev));
    }
  }

  /** Observed decode-only step time at d (nearest d seen, scaled), else the cost model's extrapolation. */
  private aloneMs(d: number): number {
    const exact = this.alone.get(d);
    if (exact !== undefined) return exact;
    let best: [number, number] | null = null;
    for (const [k, v] of this.alone) if (best === null || Math.abs(k - d) < Math.abs(best[0] - d)) best = [k, v];
    if (best === null) return this.cost.decodeMs(d);
    // Scale by the cost model's ratio between the two decode counts, which is reliable for relative changes.
    return best[1] * (this.cost.decodeMs(d) / this.cost.decodeMs(best[0]));
  }

  /** The chunk the cost model allows at `decodeTokens` (for stats: call with the current decode count). */
  steered(decodeTokens: number): number {
    const max = this.opts.maxChunk === 0 ? this.opts.batchSize : Math.min(this.opts.maxChunk, this.opts.batchSize);
    if (this.opts.itlFactor <= 0) return max;
    const perToken = this.cost.prefillMsPerToken;
    if (this.mixedSteps < 2 || !(perToken > 0)) return MIN_CHUNK;
    const target = this.opts.itlFactor * this.aloneMs(decodeTokens);
    const allowed = (target - this.cost.decodeMs(decodeTokens)) / perToken;
    return Math.max(MIN_CHUNK, Math.min(max, Math.floor(allowed)));
  }
}

/** ms ≈ w0 + w1·d + w2·p, fitted by recursive least squares with exponential forgetting. */
export class StepCostModel {
  private readonly w = [0, 0, 0];
  private readonly P = [
    [PRIOR, 0, 0],
    [0, PRIOR, 0],
    [0, 0, PRIOR],
  ];

  observe(decodeTokens: number, prefillTokens: number, ms: number): void {
    const x = [1, decodeTokens, prefillTokens];
    const Px = this.P.map((row) => dot(row, x));
    const k = Px.map((v) => v / (FORGET + dot(x, Px)));
    const err = ms - dot(this.w, x);
    for (let i = 0; i < 3; i++) this.w[i] = (this.w[i] as number) + (k[i] as number) * err;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const row = this.P[i] as number[];
        row[j] = ((row[j] as number) - (k[i] as number) * (Px[j] as number)) / FORGET;
      }
    }
  }

  /** Predicted duration of a decode-only step with `decodeTokens` tokens (never below 0.1 ms). */
  decodeMs(decodeTokens: number): number {
    return Math.max(0.1, (this.w[0] as number) + (this.w[1] as number) * decodeTokens);
  }

  get prefillMsPerToken(): number {
    return this.w[2] as number;
  }
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

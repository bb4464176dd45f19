// PrefillBudget: how many prompt tokens a step may prefill while other sequences are decoding. Pure (measured
// step times are passed in). A fixed chunk is wrong on every machine but one: 128 tokens cost ~190 ms on 2 CPU cores
// (a 10× stall for streams decoding at 21 ms/step) and a few ms on a GPU. So the budget is steered by time: mixed
// steps should take at most `itlFactor` × a decode-only step. After each mixed step the budget shrinks if the step
// overshot and grows if it undershot (multiplicative, like congestion control), within [MIN_CHUNK, maxChunk].
//
//   step time ▲        target = itlFactor × decode-only EWMA
//             │ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─
//             │   ██      ██  ██      ██          (mixed steps hover under the target)
//             │ ▄▄  ▄▄▄▄▄▄  ▄▄  ▄▄▄▄▄▄  ▄▄▄▄      (decode-only steps set the EWMA)

export const MIN_CHUNK = 8;
const GROW = 1.15;
const SHRINK = 0.7;
const EWMA = 0.2;

export interface PrefillBudgetOptions {
  /** Upper bound per step (and the whole budget when nothing decodes); 0 = unlimited, chunking off. */
  readonly maxChunk: number;
  /** Target ratio of a mixed step's duration to a decode-only step's; 0 = no time steering (fixed maxChunk). */
  readonly itlFactor: number;
  readonly batchSize: number;
}

export class PrefillBudget {
  private decodeOnlyMs: number | null = null;
  private chunk: number;

  constructor(private readonly opts: PrefillBudgetOptions) {
    this.chunk = opts.itlFactor > 0 ? MIN_CHUNK : this.maxChunk();
  }

  /** Prefill tokens allowed in the next step, given how many decode tokens it already carries. */
  budget(decodeTokens: number): number {
    if (this.opts.maxChunk === 0) return Number.POSITIVE_INFINITY;
    // With nothing decoding there is no stream to protect: prefill takes the whole batch.
    if (decodeTokens === 0) return this.opts.batchSize;
    return Math.max(1, Math.min(this.chunk, this.opts.batchSize - decodeTokens));
  }

  /** Feed back a finished step: its decode and prefill token counts and how long it took. */
  observe(decodeTokens: number, prefillTokens: number, ms: number): void {
    if (this.opts.itlFactor <= 0 || decodeTokens === 0) return;
    if (prefillTokens === 0) {
      this.decodeOnlyMs = this.decodeOnlyMs === null ? ms : this.decodeOnlyMs + EWMA * (ms - this.decodeOnlyMs);
      return;
    }
    if (this.decodeOnlyMs === null) return;
    const target = this.opts.itlFactor * this.decodeOnlyMs;
    // Only a step that used its whole budget says the budget is too small.
    const usedAll = prefillTokens >= this.chunk;
    if (ms > target) this.chunk = Math.max(MIN_CHUNK, Math.floor(this.chunk * SHRINK));
    else if (usedAll) this.chunk = Math.min(this.maxChunk(), Math.ceil(this.chunk * GROW));
  }

  /** Current steered chunk size (for stats). */
  get currentChunk(): number {
    return this.chunk;
  }

  private maxChunk(): number {
    return this.opts.maxChunk === 0 ? this.opts.batchSize : Math.min(this.opts.maxChunk, this.opts.batchSize);
  }
}

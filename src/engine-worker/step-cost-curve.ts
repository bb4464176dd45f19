// StepCostCurve: how long a decode-only step of n tokens takes here, from the steps measured so far. Pure.
//
// Per measured n the fastest of its last WINDOW step times: interference only ever adds time (on a machine whose
// cores the main thread and the OS share, one stalled thread holds a whole multi-threaded step: 8-token steps here
// read 8 to 27 ms in one run), so the window minimum is what the step costs and the window lets it follow a real
// rise (longer contexts). An average kept the spikes, and a count priced too high is never chosen again, so never
// re-measured: a single stream stuck at 4-draft steps because 33-token steps read 52 ms where they took 29. For the
// same reason a count seen once is read as at most TENTATIVE_SLACK × what the counts seen twice or more say there:
// one spiked sighting would otherwise price it for good (a first 33-token step of 152 ms where the next took 29),
// while capped it stays worth trying, and the second sighting settles it. Left out altogether, counts seen once
// were extrapolated over as if free and explored without end (verify steps rarely repeat a count).
// A lookup reads a non-decreasing fit of the points (weighted isotonic regression, pool-adjacent-violators, each
// point weighted by how often it was seen), interpolated between measured counts and extrapolated from the
// outermost two: a step cannot get cheaper by carrying more tokens. And a step never costs much more per token than
// a smaller one did (matrix kernels get no slower per row with more rows; attention grows with context, not with
// the step's tokens): an observation is capped at LINEAR_SLACK × n × the lowest per-token cost measured at a
// smaller count, which bounds a spike at a count never seen before, where the window has nothing else (a slow first
// 33-token verify step once priced speculation out for the rest of a run). The slack is for noise: a cap at exactly
// the lowest smaller point held larger counts below their true cost.

/** Step times remembered per count. */
const WINDOW = 8;
/** Observations after which a count is read as measured. */
const TRUSTED = 2;
/** A count seen fewer times is read as at most this × the curve of the trusted counts there. */
const TENTATIVE_SLACK = 1.5;
/** How far above n × the lowest smaller per-token cost an observation may be (noise in that lowest point). */
export const LINEAR_SLACK = 1.25;

interface Point {
  /** The last WINDOW observations, oldest first. */
  readonly recent: number[];
  seen: number;
}

export class StepCostCurve {
  private readonly points = new Map<number, Point>();
  /** Every count observed, ascending. */
  private readonly observed: number[] = [];
  /** The fit; null when an observation voided it. */
  private fit: Fit | null = null;

  observe(n: number, ms: number): void {
    if (!(n > 0) || !(ms > 0)) return;
    const x = Math.min(ms, this.linearCap(n));
    const p = this.points.get(n);
    if (p === undefined) {
      this.observed.splice(firstAbove(this.observed, n), 0, n);
      this.points.set(n, { recent: [x], seen: 1 });
    } else {
      if (p.recent.push(x) > WINDOW) p.recent.shift();
      p.seen++;
    }
    this.fit = null;
  }

  /** ms for a step of n tokens: measured, interpolated or extrapolated (never below 0.1); null before any. */
  at(n: number): number | null {
    return lookup(this.fitted(), n);
  }

  /** The largest n measured; null before any. */
  largest(): number | null {
    return this.observed.at(-1) ?? null;
  }

  /** Whether a count within `tolerance` of n was measured. */
  knowsNear(n: number, tolerance: number): boolean {
    const i = firstAbove(this.observed, n);
    return [this.observed[i - 1], this.observed[i]].some((k) => k !== undefined && Math.abs(k - n) <= tolerance);
  }

  /** LINEAR_SLACK × n × the lowest per-token cost at a measured count below n; Infinity when none is. */
  private linearCap(n: number): number {
    const { counts, ms } = this.fitted();
    let perToken = Number.POSITIVE_INFINITY;
    for (let j = 0; j < counts.length && (counts[j] as number) < n; j++) perToken = Math.min(perToken, (ms[j] as number) / (counts[j] as number));
    return LINEAR_SLACK * n * perToken;
  }

  /** The fit over every measured count, counts seen once capped by the fit of the trusted ones. */
  private fitted(): Fit {
    if (this.fit !== null) return this.fit;
    const fitOf = (counts: readonly number[], value: (n: number, p: Point) => number): Fit => {
      const points = counts.map((n) => this.points.get(n) as Point);
      return {
        counts,
        ms: isotonic(
          points.map((p, i) => value(counts[i] as number, p)),
          points.map((p) => Math.min(WINDOW, p.seen)),
        ),
      };
    };
    const fastest = (_: number, p: Point): number => Math.min(...p.recent);
    const trusted = this.observed.filter((n) => (this.points.get(n) as Point).seen >= TRUSTED);
    const base = trusted.length > 0 ? fitOf(trusted, fastest) : null;
    this.fit = fitOf(this.observed, (n, p) =>
      base === null || p.seen >= TRUSTED ? fastest(n, p) : Math.min(fastest(n, p), TENTATIVE_SLACK * (lookup(base, n) as number)),
    );
    return this.fit;
  }
}

interface Fit {
  /** Measured counts, ascending: lookups are binary searches (speculation asks for many counts per step). */
  readonly counts: readonly number[];
  readonly ms: readonly number[];
}

/** The fit at n: exact, interpolated, or outside the range the line through the outermost two (never below 0.1). */
function lookup({ counts, ms }: Fit, n: number): number | null {
  const i = firstAbove(counts, n);
  const [lo, hi] = [i - 1, i];
  if (lo >= 0 && counts[lo] === n) return ms[lo] as number;
  if (lo >= 0 && hi < counts.length) return lerp(counts, ms, lo, hi, n);
  if (counts.length === 0) return null;
  if (counts.length === 1) return ms[0] as number;
  const [a, b] = lo < 0 ? [0, 1] : [counts.length - 2, counts.length - 1];
  return Math.max(0.1, lerp(counts, ms, a, b, n));
}

/** Weighted least-squares non-decreasing fit of `ys` (pool adjacent violators). */
export function isotonic(ys: readonly number[], weights: readonly number[]): number[] {
  const blocks: { mean: number; weight: number; size: number }[] = [];
  ys.forEach((y, i) => {
    let b = { mean: y, weight: weights[i] as number, size: 1 };
    for (let last = blocks.at(-1); last !== undefined && last.mean > b.mean; last = blocks.at(-1)) {
      blocks.pop();
      const weight = last.weight + b.weight;
      b = { mean: (last.mean * last.weight + b.mean * b.weight) / weight, weight, size: last.size + b.size };
    }
    blocks.push(b);
  });
  return blocks.flatMap((b) => new Array<number>(b.size).fill(b.mean));
}

function lerp(xs: readonly number[], ys: readonly number[], a: number, b: number, x: number): number {
  const [x0, x1, y0, y1] = [xs[a] as number, xs[b] as number, ys[a] as number, ys[b] as number];
  return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
}

/** The index of the first element of ascending `xs` greater than x (xs.length when none is). */
export function firstAbove(xs: readonly number[], x: number): number {
  let [lo, hi] = [0, xs.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

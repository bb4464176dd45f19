// Unit tests for the decode step-cost curve: the isotonic fit (monotone, mean-preserving, pools violators), lookups
// that equal a full scan of the fitted points, one slow step that does not bend the curve, a count priced by its
// fastest recent step and capped by the trusted counts until its second sighting, the linear cap (bounding spikes
// while nothing is trusted, with slack for noise), and counts beyond the measured range taken as measured.
import { describe, expect, it } from "vitest";
import { isotonic, LINEAR_SLACK, StepCostCurve } from "../../../src/engine-worker/step-cost-curve.js";

let seed = 11;
const rand = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;

describe("isotonic", () => {
  it("leaves a non-decreasing series as it is and pools a violator with its neighbour by weight", () => {
    expect(isotonic([1, 2, 2, 5], [1, 1, 1, 1])).toEqual([1, 2, 2, 5]);
    const fit = isotonic([4, 40, 10, 20], [8, 1, 8, 8]);
    [4, 120 / 9, 120 / 9, 20].forEach((y, i) => expect(fit[i]).toBeCloseTo(y, 9));
  });

  it("is non-decreasing and keeps the weighted mean, on random series", () => {
    for (let trial = 0; trial < 50; trial++) {
      const ys = Array.from({ length: 1 + rand(30) }, () => rand(100));
      const ws = ys.map(() => 1 + rand(8));
      const fit = isotonic(ys, ws);
      expect(fit).toHaveLength(ys.length);
      for (let i = 1; i < fit.length; i++) expect(fit[i] as number).toBeGreaterThanOrEqual((fit[i - 1] as number) - 1e-9);
      const mean = (xs: readonly number[]): number => xs.reduce((a, x, i) => a + x * (ws[i] as number), 0);
      expect(mean(fit)).toBeCloseTo(mean(ys), 6);
    }
  });
});

describe("StepCostCurve", () => {
  /** The curve by a full scan of its own values at the measured counts: exact, interpolated, or extrapolated. */
  function reference(points: ReadonlyMap<number, number>, n: number): number | null {
    const exact = points.get(n);
    if (exact !== undefined) return exact;
    const keys = [...points.keys()].sort((a, b) => a - b);
    const line = (a: number, b: number): number => (points.get(a) as number) + (((points.get(b) as number) - (points.get(a) as number)) * (n - a)) / (b - a);
    const lo = keys.filter((k) => k < n).pop();
    const hi = keys.find((k) => k > n);
    if (lo !== undefined && hi !== undefined) return line(lo, hi);
    if (keys.length === 0) return null;
    if (keys.length === 1) return points.get(keys[0] as number) as number;
    return Math.max(0.1, lo === undefined ? line(keys[0] as number, keys[1] as number) : line(keys.at(-2) as number, keys.at(-1) as number));
  }

  it("reads a non-decreasing curve that equals a full scan of its measured points, as points arrive in any order", () => {
    for (let trial = 0; trial < 20; trial++) {
      const c = new StepCostCurve();
      const seen = new Map<number, number>();
      for (let i = 0; i < 30; i++) {
        const n = 1 + rand(20) + (rand(2) === 0 ? 0 : rand(280));
        c.observe(n, 1 + rand(200));
        seen.set(n, (seen.get(n) ?? 0) + 1);
        const points = new Map([...seen.keys()].map((k) => [k, c.at(k) as number]));
        for (let q = 0; q < 10; q++) {
          const x = rand(400);
          expect(c.at(x)).toBeCloseTo(reference(points, x) as number, 9);
        }
        const keys = [...seen.keys()].sort((a, b) => a - b);
        for (let k = 1; k < keys.length; k++) expect(c.at(keys[k] as number) as number).toBeGreaterThanOrEqual((c.at(keys[k - 1] as number) as number) - 1e-9);
      }
      expect(c.largest()).toBe(Math.max(...seen.keys()));
    }
  });

  it("is not bent by one slow step", () => {
    const c = new StepCostCurve();
    const linear = (n: number): number => 4 + 0.8 * n;
    for (let round = 0; round < 6; round++) for (let n = 1; n <= 40; n += 3) c.observe(n, linear(n));
    c.observe(16, 20 * linear(16)); // 16 was measured: its window's faster steps stand
    c.observe(17, 20 * linear(17)); // 17 was not: capped by linear scaling from 16, then pooled
    for (const n of [16, 17]) expect(c.at(n) as number, `n=${n}`).toBeLessThan(1.3 * linear(n));
    expect(c.at(16)).toBeCloseTo(linear(16), 9);
  });

  it("prices a count by its fastest recent step, and follows a real rise once the window holds only it", () => {
    const c = new StepCostCurve();
    for (const ms of [78, 29.3, 52, 29.5, 41]) c.observe(33, ms); // spikes around a 29 ms step
    expect(c.at(33)).toBeCloseTo(29.3, 9);
    for (let i = 0; i < 8; i++) c.observe(33, 35); // the context grew: every step now takes 35
    expect(c.at(33)).toBeCloseTo(35, 9);
  });

  it("reads a count seen once up to 1.5× what the counts seen twice say there, and as measured from its second sighting", () => {
    const c = new StepCostCurve();
    for (let i = 0; i < 5; i++) [1, 8].forEach((n) => c.observe(n, 10 + 0.5 * n)); // a large per-step cost
    c.observe(33, 254); // a spike on the first 33-token step
    expect(c.at(33)).toBeCloseTo(1.5 * (10 + 0.5 * 33), 9);
    c.observe(40, 42); // a sighting within the slack is read as it is
    expect(c.at(40)).toBe(42);
    c.observe(33, 27);
    expect(c.at(33)).toBe(27);
  });

  it("caps a spike at LINEAR_SLACK × linear scaling from a smaller count while no count is trusted yet", () => {
    const c = new StepCostCurve();
    c.observe(8, 15);
    c.observe(33, 254);
    expect(c.at(33)).toBeCloseTo((LINEAR_SLACK * 33 * 15) / 8, 9);
  });

  it("learns a count's true cost when it sits a little above linear scaling from an optimistic smaller point", () => {
    const c = new StepCostCurve();
    for (let i = 0; i < 5; i++) [8, 40].forEach((n) => c.observe(n, n === 8 ? 13.6 : 35.8)); // 0.895 ms a token at 40
    for (let i = 0; i < 20; i++) c.observe(46, 49); // 1.07 ms a token: noise in the 40 point, not a spike
    expect(c.at(46) as number).toBeCloseTo(49, 1);
  });

  it("takes a count beyond the measured range as measured", () => {
    const c = new StepCostCurve();
    c.observe(1, 4);
    c.observe(8, 10);
    c.observe(264, 200);
    expect(c.at(264)).toBe(200);
    expect(c.at(136)).toBeCloseTo(10 + (190 * 128) / 256, 9);
    expect(c.at(0.5)).toBeGreaterThanOrEqual(0.1);
  });
});

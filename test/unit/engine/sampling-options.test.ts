// Unit tests for the pure sampler options: nativeSamplerOptions (knobs copied, seed reduced to uint32),
// needsPenalties, and logprobOf.
import { describe, expect, it } from "vitest";
import { DEFAULT_SAMPLING } from "../../../src/request/generate-request.js";
import { logprobOf, nativeSamplerOptions, needsPenalties } from "../../../src/runtime/sampling-options.js";

describe("nativeSamplerOptions", () => {
  it("copies the request's knobs", () => {
    const p = { ...DEFAULT_SAMPLING, temperature: 0.7, topK: 5, topP: 0.9, minP: 0.05, seed: 1234 };
    expect(nativeSamplerOptions(p)).toEqual({ temperature: 0.7, topK: 5, topP: 0.9, minP: 0.05, seed: 1234 });
  });

  it("leaves out filters that keep everything (a top-k over the whole vocabulary would sort it every token)", () => {
    expect(nativeSamplerOptions({ ...DEFAULT_SAMPLING, temperature: 1, seed: 3 })).toEqual({ temperature: 1, seed: 3 });
  });

  it("reduces any safe-integer seed to a distinct uint32", () => {
    const seeds = [0, 1, -1, 2 ** 31, 2 ** 32 - 2, 2 ** 40 + 5, -123456]; // distinct modulo 2^32
    const out = seeds.map((seed) => nativeSamplerOptions({ ...DEFAULT_SAMPLING, seed }).seed);
    for (const s of out) expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
    expect(new Set(out).size).toBe(seeds.length);
  });
});

describe("needsPenalties", () => {
  it("is needed only when one penalty differs from its neutral value", () => {
    expect(needsPenalties(DEFAULT_SAMPLING)).toBe(false);
    expect(needsPenalties({ ...DEFAULT_SAMPLING, repetitionPenalty: 1.1 })).toBe(true);
    expect(needsPenalties({ ...DEFAULT_SAMPLING, presencePenalty: -0.5 })).toBe(true);
    expect(needsPenalties({ ...DEFAULT_SAMPLING, frequencyPenalty: 0.5 })).toBe(true);
  });
});

describe("logprobOf", () => {
  it("is ln(p), with -9999 for zero probability", () => {
    expect(logprobOf(1)).toBe(0);
    expect(logprobOf(0.5)).toBeCloseTo(Math.log(0.5), 12);
    expect(logprobOf(0)).toBe(-9999);
  });
});

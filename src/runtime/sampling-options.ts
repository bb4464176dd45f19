// Per-step sampler options derived from a request's SamplingParams. Pure.
// node-llama-cpp builds a fresh sampler (and RNG) on every controlledEvaluate call, so a request's random stream is
// made of one derived seed per output position: reproducible for the request, independent of batch neighbours.

import type { SamplingParams } from "../request/generate-request.js";

/** splitmix32-style finalizer: a well-mixed 32-bit seed per (request seed, output index). */
export function stepSeed(seed: number, outputIndex: number): number {
  let z = (seed ^ Math.imul(outputIndex + 1, 0x9e3779b1)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export interface NativeSamplerOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
}

export function nativeSamplerOptions(p: SamplingParams, outputIndex: number): NativeSamplerOptions {
  return {
    temperature: p.temperature,
    // llama.cpp treats top_k <= 0 as "whole vocabulary"; node-llama-cpp's own default (40) must not leak in.
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
    seed: stepSeed(p.seed, outputIndex),
  };
}

export function needsPenalties(p: SamplingParams): boolean {
  return p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0;
}

/** log-softmax of one logit given the max logit and sum(exp(logit - max)) over the vocabulary. */
export function logprobOf(logit: number, maxLogit: number, totalWeight: number): number {
  const lp = logit - maxLogit - Math.log(totalWeight);
  // OpenAI uses -9999 for "very unlikely"; -Infinity is not valid JSON.
  return Number.isFinite(lp) ? lp : -9999;
}

// Sampler options derived from a request's SamplingParams, and log-probability maths. Pure.
// Each running sequence owns one node-llama-cpp sampler for its whole generation, seeded once: its random stream is
// its own, reproducible when run alone, and never advanced by batch neighbours.

import type { SamplingParams } from "../request/generate-request.js";

export interface NativeSamplerOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed: number;
}

/**
 * Only the filters that filter: node-llama-cpp turns topK 0 into a top-k over the whole vocabulary, which sorts all
 * of it on every sample (measured: 16 streams at temperature 1 ran at half of llama-server's tok/s with it, the
 * same as llama-server without it). An absent field removes that sampler from the chain.
 */
export function nativeSamplerOptions(p: SamplingParams): NativeSamplerOptions {
  return {
    temperature: p.temperature,
    ...(p.topK > 0 ? { topK: p.topK } : {}),
    ...(p.topP < 1 ? { topP: p.topP } : {}),
    ...(p.minP > 0 ? { minP: p.minP } : {}),
    // The native sampler takes an unsigned 32-bit seed; the wire accepts any safe integer.
    seed: p.seed >>> 0,
  };
}

export function needsPenalties(p: SamplingParams): boolean {
  return p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0;
}

/** ln(p) for a probability; OpenAI uses -9999 for "very unlikely" (-Infinity is not valid JSON). */
export function logprobOf(probability: number): number {
  return probability > 0 ? Math.log(probability) : -9999;
}

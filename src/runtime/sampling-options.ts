// Sampler options derived from a request's SamplingParams, and log-probability maths. Pure.
// Each running sequence owns one node-llama-cpp sampler for its whole generation, seeded once: its random stream is
// its own, reproducible when run alone, and never advanced by batch neighbours.

import type { SamplingParams } from "../request/generate-request.js";

export interface NativeSamplerOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
}

export function nativeSamplerOptions(p: SamplingParams): NativeSamplerOptions {
  return {
    temperature: p.temperature,
    // llama.cpp treats top_k <= 0 as "whole vocabulary"; node-llama-cpp's own default (40) must not leak in.
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
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

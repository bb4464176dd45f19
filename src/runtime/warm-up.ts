// Warm-up: one decode with logits, sampled, before the engine takes requests (llama-server does the same unless
// --no-warmup). A process's first decode pages the mmapped weights in and touches the output head; without it the
// first request's first step pays that (150 ms where a warm step takes 4 on the 12-layer bench model) and the
// scheduler's step-cost curve starts with an outlier that shapes its prefill and speculation choices.

import { DEFAULT_SAMPLING } from "../request/generate-request.js";
import type { SequenceSampling } from "./model-backend.js";
import type { StepPlan, StepResult } from "./step-plan.js";

type Step = (plan: StepPlan, sampling: (seqId: string) => SequenceSampling) => Promise<StepResult>;

const WARM_UP_ID = "warm-up";

/** Decodes two `token`s into slot 0, samples the last greedily, then empties the slot and frees the sampler. */
export async function warmUp(step: Step, release: (s: SequenceSampling) => void, token: number): Promise<void> {
  const sampling: SequenceSampling = { params: { ...DEFAULT_SAMPLING, temperature: 0 }, logprobs: null, suppressEog: false, outputTokens: [] };
  const entry = { seqId: WARM_UP_ID, slot: 0, start: 0, tokens: [token, token], sampleAt: [1], outputIndex: 0 };
  try {
    await step({ step: 0, kvOps: [], entries: [entry], decodeTokens: 0, prefillTokens: 2 }, () => sampling);
  } finally {
    await step({ step: 0, kvOps: [{ kind: "erase", slot: 0, from: 0, to: null }], entries: [], decodeTokens: 0, prefillTokens: 0 }, () => sampling);
    release(sampling);
  }
}

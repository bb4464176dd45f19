// Unit tests for parseCompletionRequest (legacy /v1/completions): prompt shapes, batched-prompt and echo/suffix/best_of
// rejection, integer logprobs, and that shared sampling fields behave exactly as on the chat endpoint.

import { describe, expect, it } from "vitest";
import { LoomError } from "../../../src/errors.js";
import { parseCompletionRequest } from "../../../src/request/parse-completion-request.js";

function expectInvalid(body: unknown, param: string, message: string): void {
  let caught: unknown;
  try {
    parseCompletionRequest(body);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LoomError);
  const err = caught as LoomError;
  expect({ code: err.code, param: err.param, message: err.message }).toEqual({ code: "invalid_request", param, message });
}

const base = { model: "tiny", prompt: "Once upon a time" };
const SHAPES = "a string, an array of strings, an array of token ids, or an array of token-id arrays";

describe("parseCompletionRequest errors", () => {
  const cases: [string, unknown, string, string][] = [
    ["body not an object", "hi", "body", 'The request body must be a JSON object. Given: "hi"'],
    ["model missing", { prompt: "x" }, "model", "`model` is required."],
    ["prompt missing", { model: "tiny" }, "prompt", "`prompt` is required."],
    ["prompt wrong type", { model: "tiny", prompt: 5 }, "prompt", `\`prompt\` must be ${SHAPES}. Given: 5`],
    ["prompt empty string", { model: "tiny", prompt: "" }, "prompt", "`prompt` must not be empty."],
    ["prompt empty array", { model: "tiny", prompt: [] }, "prompt", "`prompt` must not be empty."],
    [
      "batched string prompts",
      { model: "tiny", prompt: ["a", "b"] },
      "prompt",
      "batched prompts are not supported; send one prompt per request. Given: 2 prompts",
    ],
    [
      "batched token prompts",
      { model: "tiny", prompt: [[1], [2], [3]] },
      "prompt",
      "batched prompts are not supported; send one prompt per request. Given: 3 prompts",
    ],
    ["mixed prompt array", { model: "tiny", prompt: [1, "a"] }, "prompt", `\`prompt\` must be ${SHAPES}. Given: [1,"a"]`],
    ["negative token id", { model: "tiny", prompt: [1, -2] }, "prompt[1]", "`prompt[1]` must be a non-negative integer token id. Given: -2"],
    ["fractional token id", { model: "tiny", prompt: [0.5] }, "prompt[0]", "`prompt[0]` must be a non-negative integer token id. Given: 0.5"],
    ["nested bad token id", { model: "tiny", prompt: [[1, "x"]] }, "prompt[0][1]", '`prompt[0][1]` must be a non-negative integer token id. Given: "x"'],
    ["nested empty token list", { model: "tiny", prompt: [[]] }, "prompt[0]", "`prompt[0]` must not be an empty token list."],
    ["single empty string in array", { model: "tiny", prompt: [""] }, "prompt[0]", "`prompt[0]` must not be empty."],
    ["echo true", { ...base, echo: true }, "echo", "`echo` is not supported."],
    ["echo wrong type", { ...base, echo: "no" }, "echo", '`echo` must be a boolean. Given: "no"'],
    ["suffix", { ...base, suffix: "end" }, "suffix", "`suffix` is not supported."],
    ["suffix wrong type", { ...base, suffix: 1 }, "suffix", "`suffix` must be a string. Given: 1"],
    ["best_of > 1", { ...base, best_of: 3 }, "best_of", "`best_of` > 1 is not supported. Given: 3"],
    ["best_of 0", { ...base, best_of: 0 }, "best_of", "`best_of` must be a positive integer. Given: 0"],
    ["n > 128", { ...base, n: 129 }, "n", "`n` must be an integer from 1 to 128. Given: 129"],
    ["logprobs boolean", { ...base, logprobs: true }, "logprobs", "`logprobs` must be an integer between 0 and 5. Given: true"],
    ["logprobs too many", { ...base, logprobs: 10 }, "logprobs", "`logprobs` must be an integer between 0 and 5. Given: 10"],
    [
      "stream_options without stream",
      { ...base, stream_options: { include_usage: true } },
      "stream_options",
      "`stream_options` is only allowed when `stream` is true.",
    ],
    ["user wrong type", { ...base, user: [] }, "user", "`user` must be a string. Given: []"],
    ["max_tokens negative", { ...base, max_tokens: -5 }, "max_tokens", "`max_tokens` must be a positive integer or null. Given: -5"],
  ];
  it.each(cases)("%s", (_name, body, param, message) => {
    expectInvalid(body, param, message);
  });
});

describe("parseCompletionRequest happy paths", () => {
  it("text prompt with defaults", () => {
    const parsed = parseCompletionRequest(base);
    expect(parsed).toMatchObject({ stream: false, includeUsage: false, logprobs: false });
    expect(parsed.request.prompt).toEqual({ kind: "text", text: "Once upon a time" });
    expect(parsed.request.sampling.temperature).toBe(1);
    expect(parsed.request.sampling.topP).toBe(1);
    expect(parsed.request.stopping.maxTokens).toBeNull();
    expect(parsed.request.logprobs).toBeNull();
  });

  it("accepts every prompt shape of length one", () => {
    expect(parseCompletionRequest({ model: "m", prompt: ["solo"] }).request.prompt).toEqual({ kind: "text", text: "solo" });
    expect(parseCompletionRequest({ model: "m", prompt: [1, 2, 3] }).request.prompt).toEqual({ kind: "tokens", ids: [1, 2, 3] });
    expect(parseCompletionRequest({ model: "m", prompt: [[4, 5]] }).request.prompt).toEqual({ kind: "tokens", ids: [4, 5] });
  });

  it("accepts the no-op forms of echo, suffix and best_of", () => {
    expect(() => parseCompletionRequest({ ...base, echo: false, suffix: "", best_of: 1, n: 1 })).not.toThrow();
    expect(() => parseCompletionRequest({ ...base, echo: null, suffix: null, best_of: null })).not.toThrow();
  });

  it("logprobs 0 still asks for sampled-token logprobs", () => {
    const parsed = parseCompletionRequest({ ...base, logprobs: 0 });
    expect(parsed.logprobs).toBe(true);
    expect(parsed.request.logprobs).toBe(0);
  });

  it("sets every extension, streaming with usage", () => {
    const parsed = parseCompletionRequest({
      ...base,
      temperature: 0,
      top_k: -1,
      min_p: 0.2,
      seed: 99,
      repetition_penalty: 1.3,
      logit_bias: { "0": -100 },
      stop: ["."],
      stop_token_ids: [1],
      max_tokens: 16,
      min_tokens: 16,
      ignore_eos: true,
      include_stop_str_in_output: true,
      logprobs: 3,
      stream: true,
      stream_options: { include_usage: true },
      unknown_extension: "ignored",
    });
    expect(parsed).toMatchObject({ stream: true, includeUsage: true, logprobs: true });
    expect(parsed.request.logprobs).toBe(3);
    expect(parsed.request.sampling).toMatchObject({ temperature: 0, topK: 0, minP: 0.2, seed: 99, repetitionPenalty: 1.3, logitBias: [[0, -100]] });
    expect(parsed.request.stopping).toEqual({
      maxTokens: 16,
      minTokens: 16,
      stop: ["."],
      stopTokenIds: [1],
      ignoreEos: true,
      includeStopStr: true,
    });
  });

  it("prefers max_completion_tokens over max_tokens here too", () => {
    expect(parseCompletionRequest({ ...base, max_tokens: 50, max_completion_tokens: 5 }).request.stopping.maxTokens).toBe(5);
  });

  it("draws different seeds for unseeded requests", () => {
    const seeds = new Set([0, 1, 2].map(() => parseCompletionRequest(base).request.sampling.seed));
    expect(seeds.size).toBeGreaterThan(1);
  });
});

// Unit tests for the shared sampling/stopping/stream validators: every 400 message, defaults and extensions.
// Exercises parse-sampling directly with plain objects; endpoint-specific fields are tested in the parser tests.

import { describe, expect, it } from "vitest";
import { LoomError } from "../../../src/errors.js";
import {
  parseChatLogprobs,
  parseCompletionLogprobs,
  parseSamplingParams,
  parseStoppingParams,
  parseStreamSettings,
  parseChoiceCount,
  rejectUnsupportedExtensions,
  requireModel,
  requireObject,
  show,
  type JsonObject,
} from "../../../src/request/parse-sampling.js";

function expectInvalid(fn: () => unknown, param: string, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LoomError);
  const err = caught as LoomError;
  expect({ code: err.code, param: err.param, message: err.message }).toEqual({ code: "invalid_request", param, message });
}

const all = (body: JsonObject): void => {
  parseSamplingParams(body);
  parseStoppingParams(body);
  parseChoiceCount(body);
  parseStreamSettings(body);
};

describe("sampling/stopping errors", () => {
  const cases: [string, JsonObject, string, string][] = [
    ["temperature too high", { temperature: 5 }, "temperature", "`temperature` must be a number between 0 and 2. Given: 5"],
    ["temperature negative", { temperature: -1 }, "temperature", "`temperature` must be a number between 0 and 2. Given: -1"],
    ["temperature string", { temperature: "0.5" }, "temperature", '`temperature` must be a number between 0 and 2. Given: "0.5"'],
    ["top_p zero", { top_p: 0 }, "top_p", "`top_p` must be a number greater than 0 and at most 1. Given: 0"],
    ["top_p > 1", { top_p: 1.5 }, "top_p", "`top_p` must be a number greater than 0 and at most 1. Given: 1.5"],
    ["top_k -2", { top_k: -2 }, "top_k", "`top_k` must be an integer >= 0, or -1 to disable. Given: -2"],
    ["top_k fractional", { top_k: 2.5 }, "top_k", "`top_k` must be an integer >= 0, or -1 to disable. Given: 2.5"],
    ["min_p > 1", { min_p: 1.1 }, "min_p", "`min_p` must be a number between 0 and 1. Given: 1.1"],
    ["seed fractional", { seed: 1.5 }, "seed", "`seed` must be an integer. Given: 1.5"],
    ["seed string", { seed: "42" }, "seed", '`seed` must be an integer. Given: "42"'],
    ["presence_penalty", { presence_penalty: 3 }, "presence_penalty", "`presence_penalty` must be a number between -2 and 2. Given: 3"],
    ["frequency_penalty", { frequency_penalty: -2.5 }, "frequency_penalty", "`frequency_penalty` must be a number between -2 and 2. Given: -2.5"],
    ["repetition_penalty 0", { repetition_penalty: 0 }, "repetition_penalty", "`repetition_penalty` must be a number greater than 0 and at most 10. Given: 0"],
    [
      "repetition_penalty 11",
      { repetition_penalty: 11 },
      "repetition_penalty",
      "`repetition_penalty` must be a number greater than 0 and at most 10. Given: 11",
    ],
    ["logit_bias array", { logit_bias: [1] }, "logit_bias", "`logit_bias` must be an object mapping token ids to numbers between -100 and 100. Given: [1]"],
    ["logit_bias bad key", { logit_bias: { abc: 1 } }, "logit_bias", '`logit_bias` keys must be non-negative integer token ids. Given key: "abc"'],
    ["logit_bias negative key", { logit_bias: { "-1": 1 } }, "logit_bias", '`logit_bias` keys must be non-negative integer token ids. Given key: "-1"'],
    ["logit_bias value range", { logit_bias: { "42": 101 } }, "logit_bias.42", "`logit_bias.42` must be a number between -100 and 100. Given: 101"],
    ["stop number", { stop: 5 }, "stop", "`stop` must be a string or an array of strings. Given: 5"],
    ["stop empty string", { stop: "" }, "stop", '`stop` must be a non-empty string. Given: ""'],
    ["stop element", { stop: ["a", 7] }, "stop[1]", "`stop[1]` must be a non-empty string. Given: 7"],
    ["too many stops", { stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }, "stop", "`stop` may hold at most 16 sequences. Given: 17"],
    ["stop_token_ids not array", { stop_token_ids: 2 }, "stop_token_ids", "`stop_token_ids` must be an array of token ids. Given: 2"],
    ["stop_token_ids negative", { stop_token_ids: [1, -3] }, "stop_token_ids[1]", "`stop_token_ids[1]` must be a non-negative integer token id. Given: -3"],
    ["max_tokens 0", { max_tokens: 0 }, "max_tokens", "`max_tokens` must be a positive integer or null. Given: 0"],
    ["max_tokens string", { max_tokens: "10" }, "max_tokens", '`max_tokens` must be a positive integer or null. Given: "10"'],
    [
      "max_completion_tokens fractional",
      { max_completion_tokens: 1.5 },
      "max_completion_tokens",
      "`max_completion_tokens` must be a positive integer or null. Given: 1.5",
    ],
    [
      "wrong max_tokens not hidden by max_completion_tokens",
      { max_completion_tokens: 5, max_tokens: -1 },
      "max_tokens",
      "`max_tokens` must be a positive integer or null. Given: -1",
    ],
    ["min_tokens negative", { min_tokens: -1 }, "min_tokens", "`min_tokens` must be an integer >= 0. Given: -1"],
    ["min_tokens > max", { max_tokens: 5, min_tokens: 6 }, "min_tokens", "`min_tokens` must not exceed max_tokens (5). Given: 6"],
    ["ignore_eos string", { ignore_eos: "true" }, "ignore_eos", '`ignore_eos` must be a boolean. Given: "true"'],
    [
      "include_stop_str_in_output number",
      { include_stop_str_in_output: 1 },
      "include_stop_str_in_output",
      "`include_stop_str_in_output` must be a boolean. Given: 1",
    ],
    ["n > 128", { n: 129 }, "n", "`n` must be an integer from 1 to 128. Given: 129"],
    ["n 0", { n: 0 }, "n", "`n` must be an integer from 1 to 128. Given: 0"],
    ["n fractional", { n: 1.5 }, "n", "`n` must be an integer from 1 to 128. Given: 1.5"],
    ["stream string", { stream: "yes" }, "stream", '`stream` must be a boolean. Given: "yes"'],
    ["stream_options without stream", { stream_options: { include_usage: true } }, "stream_options", "`stream_options` is only allowed when `stream` is true."],
    ["stream_options with stream false", { stream: false, stream_options: {} }, "stream_options", "`stream_options` is only allowed when `stream` is true."],
    ["stream_options not object", { stream: true, stream_options: true }, "stream_options", "`stream_options` must be an object. Given: true"],
    [
      "include_usage string",
      { stream: true, stream_options: { include_usage: "yes" } },
      "stream_options.include_usage",
      '`stream_options.include_usage` must be a boolean. Given: "yes"',
    ],
  ];
  it.each(cases)("%s", (_name, body, param, message) => {
    expectInvalid(() => all(body), param, message);
  });
});

describe("logprobs", () => {
  it("chat: off by default, 0 alternatives with logprobs=true, k with top_logprobs", () => {
    expect(parseChatLogprobs({})).toBeNull();
    expect(parseChatLogprobs({ logprobs: false })).toBeNull();
    expect(parseChatLogprobs({ logprobs: true })).toBe(0);
    expect(parseChatLogprobs({ logprobs: true, top_logprobs: 20 })).toBe(20);
  });
  it("chat: top_logprobs without logprobs", () => {
    expectInvalid(() => parseChatLogprobs({ top_logprobs: 2 }), "top_logprobs", "`top_logprobs` requires `logprobs` to be true.");
    expectInvalid(() => parseChatLogprobs({ logprobs: false, top_logprobs: 2 }), "top_logprobs", "`top_logprobs` requires `logprobs` to be true.");
  });
  it("chat: top_logprobs out of range and logprobs wrong type", () => {
    expectInvalid(
      () => parseChatLogprobs({ logprobs: true, top_logprobs: 21 }),
      "top_logprobs",
      "`top_logprobs` must be an integer between 0 and 20. Given: 21",
    );
    expectInvalid(() => parseChatLogprobs({ logprobs: 1 }), "logprobs", "`logprobs` must be a boolean. Given: 1");
  });
  it("completions: integer 0..5", () => {
    expect(parseCompletionLogprobs({})).toBeNull();
    expect(parseCompletionLogprobs({ logprobs: 0 })).toBe(0);
    expect(parseCompletionLogprobs({ logprobs: 5 })).toBe(5);
    expectInvalid(() => parseCompletionLogprobs({ logprobs: 6 }), "logprobs", "`logprobs` must be an integer between 0 and 5. Given: 6");
    expectInvalid(() => parseCompletionLogprobs({ logprobs: true }), "logprobs", "`logprobs` must be an integer between 0 and 5. Given: true");
  });
});

describe("defaults and extensions", () => {
  it("uses OpenAI defaults when fields are absent", () => {
    const s = parseSamplingParams({});
    expect({ ...s, seed: 0 }).toEqual({
      temperature: 1,
      topP: 1,
      topK: 0,
      minP: 0,
      seed: 0,
      repetitionPenalty: 1,
      presencePenalty: 0,
      frequencyPenalty: 0,
      logitBias: [],
    });
    expect(parseStoppingParams({})).toEqual({
      maxTokens: null,
      minTokens: 0,
      stop: [],
      stopTokenIds: [],
      ignoreEos: false,
      includeStopStr: false,
    });
    expect(parseStreamSettings({})).toEqual({ stream: false, includeUsage: false });
  });
  it("treats null as absent", () => {
    const body = { temperature: null, top_p: null, seed: null, stop: null, max_tokens: null, stream: null, n: null };
    expect(parseSamplingParams(body).temperature).toBe(1);
    expect(parseStoppingParams(body).maxTokens).toBeNull();
    expect(parseChoiceCount(body)).toBe(1);
  });
  it("draws a different random 31-bit seed for each unseeded parse", () => {
    const seeds = new Set(Array.from({ length: 8 }, () => parseSamplingParams({}).seed));
    expect(seeds.size).toBeGreaterThan(1);
    for (const seed of seeds) expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 31).toBe(true);
  });
  it("keeps every extension when set", () => {
    const body = {
      temperature: 0,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      seed: 1234,
      repetition_penalty: 1.1,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "50": -100, "7": 2.5 },
      stop: ["\n\n", "END"],
      stop_token_ids: [2, 3],
      max_tokens: 64,
      min_tokens: 4,
      ignore_eos: true,
      include_stop_str_in_output: true,
      n: 1,
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: false },
    };
    expect(parseSamplingParams(body)).toEqual({
      temperature: 0,
      topP: 0.9,
      topK: 40,
      minP: 0.05,
      seed: 1234,
      repetitionPenalty: 1.1,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      logitBias: [
        [7, 2.5],
        [50, -100],
      ],
    });
    expect(parseStoppingParams(body)).toEqual({
      maxTokens: 64,
      minTokens: 4,
      stop: ["\n\n", "END"],
      stopTokenIds: [2, 3],
      ignoreEos: true,
      includeStopStr: true,
    });
    expect(parseStreamSettings(body)).toEqual({ stream: true, includeUsage: true });
  });
  it("maps top_k -1 to 0 (disabled) and a single stop string to a list", () => {
    expect(parseSamplingParams({ top_k: -1 }).topK).toBe(0);
    expect(parseStoppingParams({ stop: "###" }).stop).toEqual(["###"]);
  });
  it("accepts 16 stop sequences", () => {
    const stop = Array.from({ length: 16 }, (_, i) => `s${i}`);
    expect(parseStoppingParams({ stop }).stop).toHaveLength(16);
  });
  it("prefers max_completion_tokens over max_tokens, and falls back when it is null", () => {
    expect(parseStoppingParams({ max_completion_tokens: 10, max_tokens: 99 }).maxTokens).toBe(10);
    expect(parseStoppingParams({ max_completion_tokens: null, max_tokens: 99 }).maxTokens).toBe(99);
    expect(parseStoppingParams({ max_completion_tokens: 10, min_tokens: 10 }).minTokens).toBe(10);
  });
});

describe("body, model and unsupported extensions", () => {
  it("requires a JSON object body", () => {
    expectInvalid(() => requireObject([1]), "body", "The request body must be a JSON object. Given: [1]");
    expectInvalid(() => requireObject("x"), "body", 'The request body must be a JSON object. Given: "x"');
    expectInvalid(() => requireObject(null), "body", "The request body must be a JSON object. Given: null");
  });
  it("requires a non-empty string model", () => {
    expectInvalid(() => requireModel({}), "model", "`model` is required.");
    expectInvalid(() => requireModel({ model: "" }), "model", '`model` must be a non-empty string. Given: ""');
    expectInvalid(() => requireModel({ model: 5 }), "model", "`model` must be a non-empty string. Given: 5");
    expect(requireModel({ model: "tiny" })).toBe("tiny");
  });
  it("rejects generation-changing extensions it cannot honour", () => {
    expectInvalid(() => rejectUnsupportedExtensions({ guided_json: {} }), "guided_json", "`guided_json` is not supported.");
    expectInvalid(() => rejectUnsupportedExtensions({ use_beam_search: true }), "use_beam_search", "Beam search is not supported.");
    expect(() => rejectUnsupportedExtensions({ use_beam_search: false, guided_json: null })).not.toThrow();
  });
  it("bounds the rendering of given values", () => {
    expect(show("x".repeat(200))).toHaveLength(80);
    expect(show(undefined)).toBe("undefined");
  });
});

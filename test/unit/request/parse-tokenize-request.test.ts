// Unit tests for the tokenize parser (POST /tokenize, vLLM's shape) and the gRPC flattening in front of it, plus the
// ChatSession settings merge: what each field becomes, and a 400 naming the field for everything else.

import { describe, expect, it } from "vitest";
import { LoomError } from "../../../src/errors.js";
import { grpcSessionFields, parseGrpcSessionTurn, parseGrpcTokenize } from "../../../src/request/parse-grpc-request.js";
import { parseTokenizeRequest } from "../../../src/request/parse-tokenize-request.js";

function paramOf(parse: () => unknown): string | null {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(LoomError);
    expect((err as LoomError).code).toBe("invalid_request");
    return (err as LoomError).param;
  }
  throw new Error("expected a refusal");
}

const messages = [{ role: "user", content: "hi" }];

describe("parseTokenizeRequest", () => {
  it("takes a prompt (BOS unless add_special_tokens is false) or chat messages", () => {
    expect(parseTokenizeRequest({ model: "m", prompt: "hello" })).toEqual({
      model: "m",
      input: { kind: "text", text: "hello", addSpecialTokens: true },
      returnTokenStrs: false,
    });
    expect(parseTokenizeRequest({ model: "m", prompt: "", add_special_tokens: false, return_token_strs: true })).toEqual({
      model: "m",
      input: { kind: "text", text: "", addSpecialTokens: false },
      returnTokenStrs: true,
    });
    expect(parseTokenizeRequest({ model: "m", messages })).toEqual({ model: "m", input: { kind: "chat", messages }, returnTokenStrs: false });
  });

  const refused: [string, unknown, string][] = [
    ["no model", { prompt: "x" }, "model"],
    ["neither input", { model: "m" }, "prompt"],
    ["both inputs", { model: "m", prompt: "x", messages }, "prompt"],
    ["prompt not a string", { model: "m", prompt: [1, 2] }, "prompt"],
    ["empty messages", { model: "m", messages: [] }, "messages"],
    ["a bad role", { model: "m", messages: [{ role: "bot", content: "x" }] }, "messages[0].role"],
    ["add_special_tokens with messages", { model: "m", messages, add_special_tokens: true }, "add_special_tokens"],
    ["add_special_tokens not a boolean", { model: "m", prompt: "x", add_special_tokens: "no" }, "add_special_tokens"],
    ["return_token_strs not a boolean", { model: "m", prompt: "x", return_token_strs: 1 }, "return_token_strs"],
  ];
  it.each(refused)("refuses %s", (_name, body, param) => {
    expect(paramOf(() => parseTokenizeRequest(body))).toBe(param);
  });
});

describe("gRPC flattening", () => {
  it("maps loom.v1.TokenizeRequest onto the same parser", () => {
    expect(parseGrpcTokenize({ model: "m", text: "x", add_special_tokens: false }).input).toEqual({ kind: "text", text: "x", addSpecialTokens: false });
    expect(parseGrpcTokenize({ model: "m", messages: { messages }, return_token_strs: true })).toMatchObject({
      input: { kind: "chat", messages },
      returnTokenStrs: true,
    });
    expect(paramOf(() => parseGrpcTokenize({ model: "m" }))).toBe("text");
  });

  it("turns SessionConfig/Respond into only the OpenAI fields they set, so later ones merge over earlier ones", () => {
    expect(grpcSessionFields({})).toEqual({});
    expect(grpcSessionFields({ model: "", sampling: { temperature: 0.5, logit_bias: {} }, stopping: { stop: [], max_tokens: 9 }, top_logprobs: 0 })).toEqual({
      temperature: 0.5,
      max_tokens: 9,
      logprobs: true,
      top_logprobs: 0,
    });
    const settings = { ...grpcSessionFields({ model: "m", sampling: { temperature: 0 } }), ...grpcSessionFields({ stopping: { max_tokens: 3 } }) };
    const parsed = parseGrpcSessionTurn(settings, [{ role: "user", content: "hi" }]);
    expect([parsed.request.model, parsed.request.sampling.temperature, parsed.request.stopping.maxTokens, parsed.logprobs]).toEqual(["m", 0, 3, false]);
  });
});

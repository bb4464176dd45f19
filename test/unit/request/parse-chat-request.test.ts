// Unit tests for parseChatRequest: messages and content parts, tools and response formats, audio rejection, ignored fields,
// and the split between GenerateRequest and the transport-only flags (stream, includeUsage, logprobs).

import { describe, expect, it } from "vitest";
import { LoomError } from "../../../src/errors.js";
import { parseChatRequest } from "../../../src/request/parse-chat-request.js";

function expectInvalid(body: unknown, param: string, message: string): void {
  let caught: unknown;
  try {
    parseChatRequest(body);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LoomError);
  const err = caught as LoomError;
  expect({ code: err.code, param: err.param, message: err.message }).toEqual({ code: "invalid_request", param, message });
}

const base = { model: "tiny", messages: [{ role: "user", content: "hi" }] };

describe("parseChatRequest errors", () => {
  const cases: [string, unknown, string, string][] = [
    ["body not an object", [base], "body", 'The request body must be a JSON object. Given: [{"model":"tiny","messages":[{"role":"user","content":"hi"}]}]'],
    ["model missing", { messages: base.messages }, "model", "`model` is required."],
    ["model wrong type", { ...base, model: 1 }, "model", "`model` must be a non-empty string. Given: 1"],
    ["messages missing", { model: "tiny" }, "messages", "`messages` is required."],
    ["messages empty", { model: "tiny", messages: [] }, "messages", "`messages` must be a non-empty array. Given: []"],
    ["messages not array", { model: "tiny", messages: "hi" }, "messages", '`messages` must be a non-empty array. Given: "hi"'],
    ["message not object", { model: "tiny", messages: ["hi"] }, "messages[0]", '`messages[0]` must be an object with `role` and `content`. Given: "hi"'],
    [
      "bad role",
      { model: "tiny", messages: [{ role: "bot", content: "x" }] },
      "messages[0].role",
      '`messages[0].role` must be one of system, developer, user, assistant, tool. Given: "bot"',
    ],
    ["user content missing", { model: "tiny", messages: [{ role: "user" }] }, "messages[0].content", "`messages[0].content` is required."],
    [
      "content wrong type",
      { model: "tiny", messages: [{ role: "user", content: 5 }] },
      "messages[0].content",
      "`messages[0].content` must be a string or an array of content parts. Given: 5",
    ],
    [
      "image content part",
      {
        model: "tiny",
        messages: [
          { role: "system", content: "s" },
          { role: "user", content: "a" },
          { role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] },
        ],
      },
      "messages[2].content[0].type",
      '`messages[2].content[0].type` "image_url" is not supported; only "text" content parts are.',
    ],
    [
      "audio content part",
      { model: "tiny", messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "input_audio" }] }] },
      "messages[0].content[1].type",
      '`messages[0].content[1].type` "input_audio" is not supported; only "text" content parts are.',
    ],
    [
      "part not object",
      { model: "tiny", messages: [{ role: "user", content: ["a"] }] },
      "messages[0].content[0]",
      '`messages[0].content[0]` must be a content part object. Given: "a"',
    ],
    [
      "text part without text",
      { model: "tiny", messages: [{ role: "user", content: [{ type: "text", text: 3 }] }] },
      "messages[0].content[0].text",
      "`messages[0].content[0].text` must be a string. Given: 3",
    ],
    [
      "assistant tool_calls without a function",
      { model: "tiny", messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c" }] }] },
      "messages[0].tool_calls[0].function",
      "`messages[0].tool_calls[0].function` must be an object with a string `name`.",
    ],
    [
      "tool call arguments not JSON",
      {
        model: "tiny",
        messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{oops" } }] }],
      },
      "messages[0].tool_calls[0].function.arguments",
      '`messages[0].tool_calls[0].function.arguments` must be a JSON-encoded object (a string). Given: "{oops"',
    ],
    [
      "tool message without tool_call_id",
      { model: "tiny", messages: [{ role: "tool", content: "x" }] },
      "messages[0].tool_call_id",
      "A tool message needs the `tool_call_id` it answers.",
    ],
    [
      "message name wrong type",
      { model: "tiny", messages: [{ role: "user", content: "x", name: 1 }] },
      "messages[0].name",
      "`messages[0].name` must be a string. Given: 1",
    ],
    ["tool type", { ...base, tools: [{ type: "custom", function: { name: "f" } }] }, "tools[0].type", '`tools[0].type` must be "function". Given: "custom"'],
    ["tools wrong type", { ...base, tools: "f" }, "tools", '`tools` must be an array. Given: "f"'],
    [
      "tool name",
      { ...base, tools: [{ type: "function", function: { name: "a b" } }] },
      "tools[0].function.name",
      '`tools[0].function.name` must be 1-64 letters, digits, _, . or -. Given: "a b"',
    ],
    [
      "tool schema keyword",
      { ...base, tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", not: {} } } } } }] },
      "tools[0].function.parameters",
      '`tools[0].function.parameters` cannot be enforced: JSON schema keyword "not" is not supported (at /properties/a/not).',
    ],
    [
      "duplicate tools",
      {
        ...base,
        tools: [
          { type: "function", function: { name: "f" } },
          { type: "function", function: { name: "f" } },
        ],
      },
      "tools[1]",
      'Two tools are named "f".',
    ],
    ["required without tools", { ...base, tool_choice: "required" }, "tool_choice", '`tool_choice` "required" needs `tools`.'],
    [
      "named tool not offered",
      { ...base, tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } },
      "tool_choice",
      '`tool_choice` names "g", which is not one of the tools.',
    ],
    [
      "required tool call with ignore_eos",
      { ...base, tools: [{ type: "function", function: { name: "f" } }], tool_choice: "required", ignore_eos: true },
      "ignore_eos",
      "A required tool call cannot be combined with `ignore_eos`: it must end when complete.",
    ],
    [
      "response_format unknown type",
      { ...base, response_format: { type: "xml" } },
      "response_format.type",
      '`response_format.type` must be "text", "json_object" or "json_schema". Given: "xml"',
    ],
    [
      "json_schema keyword",
      { ...base, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", format: "hostname" } } } },
      "response_format.json_schema.schema",
      '`response_format.json_schema.schema` cannot be enforced: format "hostname" is not supported (supported: date, time, date-time, uuid, email, uri, ipv4) (at /format).',
    ],
    [
      "json with min_tokens",
      { ...base, response_format: { type: "json_object" }, min_tokens: 3 },
      "min_tokens",
      "A constrained output (response_format, json_schema or grammar) cannot be combined with `min_tokens`: it must end when complete.",
    ],
    [
      "two content formats",
      { ...base, response_format: { type: "json_object" }, grammar: 'root ::= "a"' },
      "response_format",
      "Set only one of `response_format` (json_object/json_schema), `json_schema` and `grammar`.",
    ],
    [
      "grammar with tools",
      { ...base, grammar: 'root ::= "a"', tools: [{ type: "function", function: { name: "f" } }] },
      "grammar",
      '`grammar` cannot be combined with tools; use `response_format` with a JSON schema, or tool_choice "none".',
    ],
    [
      "response_format wrong type",
      { ...base, response_format: "text" },
      "response_format",
      '`response_format` must be an object with a string `type`. Given: "text"',
    ],
    ["audio output", { ...base, audio: { voice: "alloy" } }, "audio", "Audio output is not supported."],
    ["audio modality", { ...base, modalities: ["text", "audio"] }, "modalities", '`modalities` may only contain "text". Given: ["text","audio"]'],
    ["n > 128", { ...base, n: 200 }, "n", "`n` must be an integer from 1 to 128. Given: 200"],
    ["ignored field wrong type", { ...base, user: 42 }, "user", "`user` must be a string. Given: 42"],
    ["metadata wrong type", { ...base, metadata: "x" }, "metadata", '`metadata` must be an object. Given: "x"'],
    ["store wrong type", { ...base, store: "yes" }, "store", '`store` must be a boolean. Given: "yes"'],
    ["top_logprobs without logprobs", { ...base, top_logprobs: 3 }, "top_logprobs", "`top_logprobs` requires `logprobs` to be true."],
    [
      "stream_options without stream",
      { ...base, stream_options: { include_usage: true } },
      "stream_options",
      "`stream_options` is only allowed when `stream` is true.",
    ],
    ["temperature out of range", { ...base, temperature: 5 }, "temperature", "`temperature` must be a number between 0 and 2. Given: 5"],
    ["structured outputs", { ...base, structured_outputs: { json: {} } }, "structured_outputs", "`structured_outputs` is not supported."],
  ];
  it.each(cases)("%s", (_name, body, param, message) => {
    expectInvalid(body, param, message);
  });
});

describe("parseChatRequest happy paths", () => {
  it("produces a chat prompt with OpenAI defaults", () => {
    const parsed = parseChatRequest(base);
    expect(parsed.stream).toBe(false);
    expect(parsed.includeUsage).toBe(false);
    expect(parsed.logprobs).toBe(false);
    const r = parsed.request;
    expect(r.model).toBe("tiny");
    expect(r.prompt).toEqual({ kind: "chat", messages: [{ role: "user", content: "hi" }] });
    expect(r.sampling.temperature).toBe(1);
    expect(r.sampling.topP).toBe(1);
    expect(r.stopping.maxTokens).toBeNull();
    expect(r.logprobs).toBeNull();
  });

  it("keeps transport-only fields out of the GenerateRequest", () => {
    const parsed = parseChatRequest({ ...base, stream: true, stream_options: { include_usage: true } });
    expect(parsed.stream).toBe(true);
    expect(parsed.includeUsage).toBe(true);
    expect(Object.keys(parsed.request).sort()).toEqual(["cache", "logprobs", "model", "output", "prompt", "sampling", "stopping"]);
  });

  it("joins text parts with a newline and accepts every role", () => {
    const messages = [
      { role: "system", content: "sys" },
      { role: "developer", content: [{ type: "text", text: "dev" }] },
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
      { role: "assistant", content: null },
      { role: "tool", content: "result", tool_call_id: "call_1" },
    ];
    const { request } = parseChatRequest({ model: "tiny", messages });
    expect(request.prompt).toEqual({
      kind: "chat",
      messages: [
        { role: "system", content: "sys" },
        { role: "developer", content: "dev" },
        { role: "user", content: "a\nb" },
        { role: "assistant", content: "" },
        { role: "tool", content: "result", toolCallId: "call_1" },
      ],
    });
  });

  it("parses tools, tool choices and assistant tool calls", () => {
    const tool = {
      type: "function",
      function: { name: "f", description: "d", parameters: { type: "object", properties: { a: { type: "integer" } } }, strict: true },
    };
    const parsed = parseChatRequest({
      ...base,
      tools: [tool],
      tool_choice: { type: "function", function: { name: "f" } },
      parallel_tool_calls: false,
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
        { role: "tool", tool_call_id: "c1", content: "2" },
      ],
    });
    expect(parsed.request.output).toEqual({
      content: { kind: "text" },
      tools: [{ name: "f", description: "d", parameters: tool.function.parameters, strict: true }],
      toolChoice: { kind: "named", name: "f" },
      parallelToolCalls: false,
    });
    const messages = parsed.request.prompt.kind === "chat" ? parsed.request.prompt.messages : [];
    expect(messages[1]).toEqual({ role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: '{"a":1}' }] });
    expect(parseChatRequest({ ...base, tools: [tool] }).request.output.toolChoice).toEqual({ kind: "auto" });
    expect(parseChatRequest({ ...base, functions: [tool.function], function_call: { name: "f" } }).request.output.toolChoice).toEqual({
      kind: "named",
      name: "f",
    });
  });

  it("parses response formats and llama-server's json_schema and grammar", () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"] };
    expect(parseChatRequest({ ...base, response_format: { type: "json_object" } }).request.output.content).toEqual({ kind: "json", schema: null });
    expect(
      parseChatRequest({ ...base, response_format: { type: "json_schema", json_schema: { name: "n", schema, strict: true } } }).request.output.content,
    ).toEqual({ kind: "json", schema });
    expect(parseChatRequest({ ...base, json_schema: schema }).request.output.content).toEqual({ kind: "json", schema });
    expect(parseChatRequest({ ...base, grammar: 'root ::= "yes"' }).request.output.content).toEqual({ kind: "gbnf", grammar: 'root ::= "yes"' });
  });

  it("accepts no-op tool settings, text response_format and ignored fields", () => {
    const body = {
      ...base,
      tools: [],
      tool_choice: "none",
      response_format: { type: "text" },
      user: "u",
      metadata: { a: "b" },
      store: false,
      service_tier: "auto",
      parallel_tool_calls: false,
      modalities: ["text"],
      some_unknown_field: { x: 1 },
    };
    expect(() => parseChatRequest(body)).not.toThrow();
  });

  it("sets every extension and logprobs", () => {
    const parsed = parseChatRequest({
      ...base,
      temperature: 0.2,
      top_p: 0.8,
      top_k: 20,
      min_p: 0.1,
      seed: 7,
      repetition_penalty: 1.2,
      presence_penalty: 1,
      frequency_penalty: 1,
      logit_bias: { "3": 5 },
      stop: "x",
      stop_token_ids: [9],
      max_completion_tokens: 32,
      max_tokens: 999,
      min_tokens: 2,
      ignore_eos: true,
      include_stop_str_in_output: true,
      logprobs: true,
      top_logprobs: 5,
    });
    expect(parsed.logprobs).toBe(true);
    expect(parsed.request.logprobs).toBe(5);
    expect(parsed.request.sampling).toEqual({
      temperature: 0.2,
      topP: 0.8,
      topK: 20,
      minP: 0.1,
      seed: 7,
      repetitionPenalty: 1.2,
      presencePenalty: 1,
      frequencyPenalty: 1,
      logitBias: [[3, 5]],
    });
    expect(parsed.request.stopping).toEqual({
      maxTokens: 32,
      minTokens: 2,
      stop: ["x"],
      stopTokenIds: [9],
      ignoreEos: true,
      includeStopStr: true,
    });
  });

  it("draws different seeds for two unseeded requests", () => {
    const a = parseChatRequest(base).request.sampling.seed;
    const b = parseChatRequest(base).request.sampling.seed;
    const c = parseChatRequest(base).request.sampling.seed;
    // Three equal 31-bit draws are practically impossible; two could collide with probability 2^-31.
    expect(new Set([a, b, c]).size).toBeGreaterThan(1);
  });
});

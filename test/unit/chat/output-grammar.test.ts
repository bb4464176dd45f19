// The request's whole grammar per tool choice and family, checked with llama.cpp's grammar engine.

import { describe, expect, it } from "vitest";
import { lazyCallsGrammar, outputGrammar } from "../../../src/chat/output-grammar.js";
import { toolSyntaxOf } from "../../../src/chat/tool-syntax.js";
import { FREE_OUTPUT, type OutputConstraint, type ToolDefinition } from "../../../src/request/generate-request.js";
import { gbnfMatcher } from "../../support/gbnf-matcher.js";

const weather: ToolDefinition = {
  name: "get_weather",
  description: null,
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true,
};
const add: ToolDefinition = {
  name: "add",
  description: "a+b",
  parameters: { type: "object", properties: { a: { type: "integer" } }, required: ["a"] },
  strict: false,
};
const hermes = toolSyntaxOf("{% if tools %}<tool_call>{% endif %}");
const llama3 = toolSyntaxOf('{% if tools %}<|start_header_id|>"parameters"{% endif %}');
const mistral = toolSyntaxOf("{% if tools %}[TOOL_CALLS]{% endif %}");

function output(over: Partial<OutputConstraint>): OutputConstraint {
  return { ...FREE_OUTPUT, tools: [weather, add], toolChoice: { kind: "required" }, ...over };
}

const W = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>';
const A = '<tool_call>\n{"name": "add", "arguments": {"a": 2}}\n</tool_call>';

describe("output grammar", () => {
  it("free text and tool_choice none need no grammar", () => {
    expect(outputGrammar(FREE_OUTPUT, hermes)).toBeNull();
    expect(outputGrammar(output({ toolChoice: { kind: "none" } }), hermes)).toBeNull();
  });

  it("auto over free text: no grammar from the first token; the calls grammar armed at the marker reads from it", async () => {
    const auto = output({ toolChoice: { kind: "auto" } });
    expect(outputGrammar(auto, hermes)).toBeNull();
    const lazy = lazyCallsGrammar(auto, hermes, false);
    expect(lazy).toMatchObject({ marker: "<tool_call>", anchored: false });
    const match = await gbnfMatcher(lazy?.grammar as string);
    expect(match(W)).toBe(true);
    expect(match(`${W}\n${A}`)).toBe(true);
    expect(match('<tool_call>\n{"name": "get_weather", "arguments": {"city": 3}}\n</tool_call>')).toBe(false);
    expect(match(`${W} and some text after`)).toBe(false);
    expect(lazyCallsGrammar(auto, llama3, false)).toMatchObject({ marker: "{", anchored: true });
    expect(lazyCallsGrammar(auto, mistral, false)).toMatchObject({ marker: "[TOOL_CALLS]", anchored: false });
    const m = await gbnfMatcher(lazyCallsGrammar(auto, mistral, false)?.grammar as string);
    expect(m('[TOOL_CALLS][{"name": "add", "arguments": {"a": 1}}]')).toBe(true);
  });

  it("nothing to arm: other tool choices, a JSON content format, or end-of-generation masked", () => {
    expect(lazyCallsGrammar(output({}), hermes, false)).toBeNull();
    expect(lazyCallsGrammar(output({ toolChoice: { kind: "none" } }), hermes, false)).toBeNull();
    expect(lazyCallsGrammar(output({ toolChoice: { kind: "auto" }, content: { kind: "json", schema: null } }), hermes, false)).toBeNull();
    expect(lazyCallsGrammar(output({ toolChoice: { kind: "auto" } }), hermes, true)).toBeNull();
  });

  it("required: one or more calls of any tool, each argument object checked against its schema", async () => {
    const match = await gbnfMatcher(outputGrammar(output({}), hermes) as string);
    expect(match(W)).toBe(true);
    expect(match(`${W}\n${A}`)).toBe(true);
    expect(match('<tool_call>\n{"name": "get_weather", "arguments": {"city": 3}}\n</tool_call>')).toBe(false);
    expect(match('<tool_call>\n{"name": "nope", "arguments": {}}\n</tool_call>')).toBe(false);
    expect(match("hello")).toBe(false);
  });

  it("parallel_tool_calls false: exactly one call", async () => {
    const match = await gbnfMatcher(outputGrammar(output({ parallelToolCalls: false }), hermes) as string);
    expect(match(W)).toBe(true);
    expect(match(`${W}\n${A}`)).toBe(false);
  });

  it("named: exactly that tool", async () => {
    const match = await gbnfMatcher(outputGrammar(output({ toolChoice: { kind: "named", name: "add" } }), hermes) as string);
    expect(match(A)).toBe(true);
    expect(match(W)).toBe(false);
  });

  it("auto with a JSON content format: that JSON or calls", async () => {
    const g = outputGrammar(
      output({
        toolChoice: { kind: "auto" },
        content: { kind: "json", schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
      }),
      hermes,
    );
    const match = await gbnfMatcher(g as string);
    expect(match('{"ok": true}')).toBe(true);
    expect(match(W)).toBe(true);
    expect(match("free text")).toBe(false);
  });

  it("llama3 and mistral write calls their own way", async () => {
    const l = await gbnfMatcher(outputGrammar(output({}), llama3) as string);
    expect(l('{"name": "add", "parameters": {"a": 1}}')).toBe(true);
    expect(l('{"name": "add", "parameters": {"a": 1}}{"name": "add", "parameters": {"a": 1}}')).toBe(false);
    const m = await gbnfMatcher(outputGrammar(output({}), mistral) as string);
    expect(m('[TOOL_CALLS][{"name": "add", "arguments": {"a": 1}}, {"name": "get_weather", "arguments": {"city": "x"}}]')).toBe(true);
  });
});

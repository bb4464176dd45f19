// The tool-call parser on fixed strings per family: whole and fed one character at a time (the streamed pieces must
// reassemble to the same calls and content), arguments as exact slices of the text, malformed calls kept as content.

import { describe, expect, it } from "vitest";
import { ToolCallParser, type ParsedPiece } from "../../../src/chat/tool-call-parser.js";
import { toolSyntaxOf, type ToolFamily, type ToolSyntax } from "../../../src/chat/tool-syntax.js";

const TEMPLATES: Record<ToolFamily, string | null> = {
  hermes: "{% if tools %}<tool_call>{% endif %}",
  llama3: '{% if tools %}<|start_header_id|>{"name": …, "parameters": …}{% endif %}',
  mistral: "{% if tools %}[TOOL_CALLS]{% endif %}",
  generic: null,
};

interface Result {
  content: string;
  calls: { id: string; name: string; arguments: string }[];
}

function collect(pieces: readonly ParsedPiece[]): Result {
  const r: Result = { content: "", calls: [] };
  for (const p of pieces) {
    if (p.kind === "content") r.content += p.text;
    else if (p.kind === "call") r.calls[p.index] = { id: p.id, name: p.name, arguments: "" };
    else (r.calls[p.index] as { arguments: string }).arguments += p.text;
  }
  return r;
}

function ids(): () => string {
  let n = 0;
  return () => `call_${++n}`;
}

function parseWhole(syntax: ToolSyntax, text: string): Result {
  const p = new ToolCallParser(syntax, ids());
  return collect([...p.push(text), ...p.end()]);
}

function parseByChar(syntax: ToolSyntax, text: string): Result {
  const p = new ToolCallParser(syntax, ids());
  const pieces: ParsedPiece[] = [];
  for (const ch of text) pieces.push(...p.push(ch));
  return collect([...pieces, ...p.end()]);
}

function both(family: ToolFamily, text: string): Result {
  const syntax = toolSyntaxOf(TEMPLATES[family]);
  expect(syntax.family).toBe(family);
  const whole = parseWhole(syntax, text);
  expect(parseByChar(syntax, text)).toEqual(whole);
  return whole;
}

describe("tool-call parser", () => {
  it("hermes: content, then calls in <tool_call> tags, arguments as exact slices", () => {
    const text =
      'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris",  "unit":"c"}}\n</tool_call>\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": [2, {"c": "}"}]}}\n</tool_call>';
    const r = both("hermes", text);
    expect(r.content).toBe("Let me check.");
    expect(r.calls).toEqual([
      { id: "call_1", name: "get_weather", arguments: '{"city": "Paris",  "unit":"c"}' },
      { id: "call_2", name: "add", arguments: '{"a": 1, "b": [2, {"c": "}"}]}' },
    ]);
  });

  it("hermes: arguments before the name are still one call, emitted when it closes", () => {
    const r = both("hermes", '<tool_call>{"arguments": {"x": "y"}, "name": "f"}</tool_call>');
    expect(r).toEqual({ content: "", calls: [{ id: "call_1", name: "f", arguments: '{"x": "y"}' }] });
  });

  it("hermes: text that only looks like a call stays content", () => {
    expect(both("hermes", "a <tool_ca b")).toEqual({ content: "a <tool_ca b", calls: [] });
    expect(both("hermes", "x <tool_call> not json")).toEqual({ content: "x <tool_call> not json", calls: [] });
    expect(both("hermes", "plain text, no calls").calls).toEqual([]);
  });

  it("llama3: a JSON object as the whole reply, `parameters` as the arguments", () => {
    const r = both("llama3", '  {"name": "lookup", "parameters": {"q": "a\\"b"}}');
    expect(r).toEqual({ content: "", calls: [{ id: "call_1", name: "lookup", arguments: '{"q": "a\\"b"}' }] });
    expect(both("llama3", '<|python_tag|>{"name": "f", "parameters": {}}').calls).toHaveLength(1);
    expect(both("llama3", 'Hello {"name": "f"}')).toEqual({ content: 'Hello {"name": "f"}', calls: [] });
    // A JSON answer that happens to have a "name" is content, not a call.
    expect(both("llama3", '{"name": "Bob", "age": 3}')).toEqual({ content: '{"name": "Bob", "age": 3}', calls: [] });
  });

  it("mistral: [TOOL_CALLS] and a JSON array of calls", () => {
    const r = both("mistral", '[TOOL_CALLS][{"name": "a", "arguments": {"n": 1}}, {"name": "b", "arguments": {}}]');
    expect(r.calls.map((c) => [c.name, c.arguments])).toEqual([
      ["a", '{"n": 1}'],
      ["b", "{}"],
    ]);
  });

  it("generic: the hermes form, after content", () => {
    const r = both("generic", 'ok <tool_call>\n{"name": "f", "arguments": {"k": true}}\n</tool_call>');
    expect(r).toEqual({ content: "ok", calls: [{ id: "call_1", name: "f", arguments: '{"k": true}' }] });
  });

  it("a malformed call keeps its arguments, skips its close tag, and later calls are still found", () => {
    const r = both("hermes", '<tool_call>\n{"name": "f", "arguments": {"x": 1}\n</tool_call>\n<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>');
    expect(r).toEqual({
      content: "",
      calls: [
        { id: "call_1", name: "f", arguments: '{"x": 1}' },
        { id: "call_2", name: "g", arguments: "{}" },
      ],
    });
    expect(both("hermes", 'x <tool_call> oops <tool_call>{"name": "h", "arguments": {}}</tool_call>').calls.map((c) => c.name)).toEqual(["h"]);
  });

  it("a call without arguments gets {}; an unfinished one keeps what it had", () => {
    expect(both("hermes", '<tool_call>{"name": "now"}</tool_call>').calls).toEqual([{ id: "call_1", name: "now", arguments: "{}" }]);
    expect(both("hermes", '<tool_call>{"name": "f", "arguments": {"a": "tru').calls).toEqual([{ id: "call_1", name: "f", arguments: '{"a": "tru' }]);
    expect(both("hermes", '<tool_call>{"na')).toEqual({ content: '<tool_call>{"na', calls: [] });
  });

  it("streams the name before the arguments and the arguments in pieces", () => {
    const p = new ToolCallParser(toolSyntaxOf(TEMPLATES.hermes), ids());
    expect(p.push('<tool_call>\n{"name": "f", ')).toEqual([{ kind: "call", index: 0, id: "call_1", name: "f" }]);
    expect(p.push('"arguments": {"a": ')).toEqual([{ kind: "arguments", index: 0, text: '{"a": ' }]);
    expect(p.push("12}")).toEqual([{ kind: "arguments", index: 0, text: "12}" }]);
    expect([...p.push("}\n</tool_call>"), ...p.end()]).toEqual([]);
    expect(p.callCount).toBe(1);
  });
});

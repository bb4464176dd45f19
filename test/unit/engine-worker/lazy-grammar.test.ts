// When tool_choice auto's calls grammar is armed, and the text it reads from there: pure, no model.

import { describe, expect, it } from "vitest";
import { LazyGrammarWatcher } from "../../../src/engine-worker/lazy-grammar.js";

const hermes = (): LazyGrammarWatcher => new LazyGrammarWatcher({ marker: "<tool_call>", anchored: false, grammar: "root ::= x" });
const llama3 = (): LazyGrammarWatcher => new LazyGrammarWatcher({ marker: "{", anchored: true, grammar: "root ::= x" });

describe("lazy grammar watcher", () => {
  it("arms when the marker completes, across pieces, and reads from the marker's first character", () => {
    const w = hermes();
    expect(w.push("Let me check <b>that</b>. <tool", true)).toBeNull();
    expect(w.push("_call>\n{", true)).toBe("<tool_call>\n{");
    expect(w.push("<tool_call>", true)).toBeNull(); // armed once
  });

  it("a marker inside one piece, text before it in the same piece", () => {
    expect(hermes().push('ok<tool_call>\n{"na', true)).toBe('<tool_call>\n{"na');
  });

  it("waits while the detokenizer holds a split character back (the grammar must read whole bytes)", () => {
    const w = hermes();
    expect(w.push("<tool_call>", false)).toBeNull();
    expect(w.push("\n{", true)).toBe("<tool_call>\n{");
  });

  it("anchored: only a reply that opens with the marker, leading whitespace allowed", () => {
    const w = llama3();
    expect(w.push(" \n", true)).toBeNull();
    expect(w.push('{"name', true)).toBe('{"name');
    const text = llama3();
    expect(text.push("It is {sunny}", true)).toBeNull();
    expect(text.push("{", true)).toBeNull();
  });
});

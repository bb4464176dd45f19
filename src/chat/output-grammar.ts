// A request's whole output grammar, from its content format and tool choice, for the model's tool syntax:
//   text, no tools or tool_choice none → the content format alone (null for free text);
//   required → one or more calls (one when parallel_tool_calls is false or the family takes one), each call's
//   arguments compiled from that tool's parameter schema; named → exactly one call of that tool;
//   auto → no grammar while the text is free; lazyCallsGrammar() is armed once the reply writes its family's call
//   marker (llama.cpp's lazy grammars), or, with a JSON content format, that JSON or the calls.
// Runs in the engine worker, which knows the model's template; the request parsers compiled every schema once
// already, so nothing here can be a client error.

import { alt, GrammarBuilder, lit, repeat } from "../grammar/gbnf.js";
import { finish, jsonContentRule, toolArgumentsRule } from "../grammar/json-schema-grammar.js";
import type { ContentFormat, OutputConstraint, ToolDefinition } from "../request/generate-request.js";
import type { ToolSyntax } from "./tool-syntax.js";

export function outputGrammar(output: OutputConstraint, syntax: ToolSyntax): string | null {
  const choice = output.toolChoice;
  if (output.tools.length === 0 || choice.kind === "none") return contentGrammar(output.content);
  if (output.content.kind === "gbnf") return output.content.grammar; // refused with tools by the parser
  const g = new GrammarBuilder();
  const parallel = output.parallelToolCalls && syntax.parallel;
  if (choice.kind === "named") {
    const tool = output.tools.find((t) => t.name === choice.name) as ToolDefinition;
    return finish(g, callsRule(g, [tool], syntax, false));
  }
  if (choice.kind === "required") return finish(g, callsRule(g, output.tools, syntax, parallel));
  if (output.content.kind === "text") return null;
  const content = jsonContentRule(g, output.content.schema);
  return finish(g, alt([content, callsRule(g, output.tools, syntax, parallel)]));
}

/** tool_choice auto over free text: the grammar a reply's calls follow from their marker on. */
export interface LazyGrammar {
  /** Text that arms the grammar; the grammar reads from the marker's first character. */
  readonly marker: string;
  /** Llama 3: only a reply that opens with the marker (after whitespace) is a call. */
  readonly anchored: boolean;
  readonly grammar: string;
}

/**
 * The calls grammar that tool_choice auto arms when free text writes the call marker; null when there is nothing to
 * arm, or when end-of-generation is masked (ignore_eos, min_tokens: a finished call could not end).
 */
export function lazyCallsGrammar(output: OutputConstraint, syntax: ToolSyntax, eogMasked: boolean): LazyGrammar | null {
  if (eogMasked || output.tools.length === 0 || output.toolChoice.kind !== "auto" || output.content.kind !== "text") return null;
  const g = new GrammarBuilder();
  const calls = callsRule(g, output.tools, syntax, output.parallelToolCalls && syntax.parallel);
  const anchored = syntax.marker === "";
  return { marker: anchored ? "{" : syntax.marker, anchored, grammar: finish(g, calls) };
}

function contentGrammar(content: ContentFormat): string | null {
  if (content.kind === "text") return null;
  if (content.kind === "gbnf") return content.grammar;
  const g = new GrammarBuilder();
  return finish(g, jsonContentRule(g, content.schema));
}

/** The block of calls: blockOpen call (separator call)* blockClose. */
function callsRule(g: GrammarBuilder, tools: readonly ToolDefinition[], syntax: ToolSyntax, parallel: boolean): string {
  const call = g.define(g.fresh("tool-call"), alt(tools.map((t, i) => callRule(g, t, i, syntax))));
  const more = parallel ? ` ${repeat(`${lit(syntax.separator)} ${call}`, 0, null)}` : "";
  const open = syntax.blockOpen === "" ? "" : `${lit(syntax.blockOpen)} `;
  const close = syntax.blockClose === "" ? "" : ` ${lit(syntax.blockClose)}`;
  return g.define(g.fresh("tool-calls"), `${open}${call}${more}${close}`);
}

/** callOpen {"name": "<name>", "<argumentsKey>": <arguments object>} callClose, spaced as the templates write it. */
function callRule(g: GrammarBuilder, tool: ToolDefinition, index: number, syntax: ToolSyntax): string {
  const args = toolArgumentsRule(g, tool.parameters, index);
  const head = `${syntax.callOpen}{"name": ${JSON.stringify(tool.name)}, ${JSON.stringify(syntax.argumentsKey)}: `;
  const tail = `}${syntax.callClose}`;
  return g.define(g.fresh(`call-${index}`), `${lit(head)} ${args} ${lit(tail)}`);
}

// Chat messages and tools → the variables a chat template renders. Templates that render tools themselves get
// them as Hugging Face templates expect (OpenAI tool dicts; a call's `arguments` as an object, not JSON text).
// Templates that know no tools get Loom's instructions in the system message and earlier calls and results written
// in the same <tool_call>/<tool_response> form the model is asked to use, so any chat model can be offered tools.

import type { ChatMessage, ToolDefinition } from "../request/generate-request.js";
import type { ToolSyntax } from "./tool-syntax.js";

export interface TemplateMessage {
  readonly role: string;
  readonly content: string;
  readonly tool_calls?: readonly { id: string; type: "function"; function: { name: string; arguments: unknown } }[];
  readonly tool_call_id?: string;
  readonly name?: string;
}

export interface TemplateInput {
  readonly messages: readonly TemplateMessage[];
  /** Absent when the template gets no tools (none offered, or Loom wrote them into the messages). */
  readonly tools?: readonly unknown[];
}

function toolDict(t: ToolDefinition): unknown {
  return { type: "function", function: { name: t.name, ...(t.description === null ? {} : { description: t.description }), parameters: t.parameters } };
}

export function templateInput(messages: readonly ChatMessage[], tools: readonly ToolDefinition[], syntax: ToolSyntax): TemplateInput {
  const offered = tools.length > 0;
  if (!syntax.templateRendersTools && (offered || messages.some((m) => m.toolCalls !== undefined || m.role === "tool"))) {
    return { messages: genericMessages(messages, tools) };
  }
  const rendered = messages.map(templateMessage);
  return offered ? { messages: rendered, tools: tools.map(toolDict) } : { messages: rendered };
}

function templateMessage(m: ChatMessage): TemplateMessage {
  const role = m.role === "developer" ? "system" : m.role;
  return {
    role,
    content: m.content,
    ...(m.toolCalls === undefined
      ? {}
      : {
          tool_calls: m.toolCalls.map((c) => ({
            id: c.id,
            type: "function" as const,
            function: { name: c.name, arguments: JSON.parse(c.arguments) as unknown },
          })),
        }),
    ...(m.toolCallId === undefined ? {} : { tool_call_id: m.toolCallId }),
    ...(m.name === undefined ? {} : { name: m.name }),
  };
}

/** Loom's tool instructions (the hermes form, which the generic family parses). */
export function genericToolInstructions(tools: readonly ToolDefinition[]): string {
  const sigs = tools.map((t) => JSON.stringify(toolDict(t))).join("\n");
  return (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
    `You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n${sigs}\n</tools>\n\n` +
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
    '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
  );
}

function genericMessages(messages: readonly ChatMessage[], tools: readonly ToolDefinition[]): TemplateMessage[] {
  const out: TemplateMessage[] = messages.map((m): TemplateMessage => {
    if (m.role === "tool") return { role: "user", content: `<tool_response>\n${m.content}\n</tool_response>` };
    const role = m.role === "developer" ? "system" : m.role;
    if (m.toolCalls === undefined) return { role, content: m.content };
    const calls = m.toolCalls.map((c) => `<tool_call>\n{"name": ${JSON.stringify(c.name)}, "arguments": ${c.arguments}}\n</tool_call>`);
    return { role, content: [m.content, ...calls].filter((p) => p !== "").join("\n") };
  });
  if (tools.length === 0) return out;
  const instructions = genericToolInstructions(tools);
  const first = out[0];
  if (first?.role === "system") return [{ role: "system", content: `${first.content}\n\n${instructions}` }, ...out.slice(1)];
  return [{ role: "system", content: instructions }, ...out];
}

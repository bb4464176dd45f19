// OpenAI function tools: `tools` (and the deprecated `functions`), `tool_choice` (and `function_call`),
// `parallel_tool_calls`, and the `tool_calls` of assistant messages. Every parameter schema is compiled here, so a
// keyword the grammar cannot enforce is a 400 naming the tool, never a silently looser call.

import type { ToolCall, ToolChoice, ToolDefinition } from "./generate-request.js";
import { compileSchemaParam } from "./parse-response-format.js";
import { invalid, isPlainObject, optionalBoolean, present, show, type JsonObject } from "./parse-sampling.js";

const TOOL_NAME = /^[a-zA-Z0-9_.-]{1,64}$/;
/** More tools than this make a prompt and a grammar no small model can use; OpenAI's own limit is 128. */
export const MAX_TOOLS = 128;

export interface ParsedTools {
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
}

export function parseTools(body: JsonObject): ParsedTools {
  const tools = parseToolList(body);
  const toolChoice = parseToolChoice(body, tools);
  return { tools, toolChoice, parallelToolCalls: optionalBoolean(body, "parallel_tool_calls", true) };
}

function parseToolList(body: JsonObject): ToolDefinition[] {
  const tools = present(body, "tools");
  const functions = present(body, "functions");
  if (tools !== undefined && functions !== undefined) throw invalid("functions", "Send `tools` or the deprecated `functions`, not both.");
  const list = tools ?? functions;
  if (list === undefined) return [];
  const key = tools !== undefined ? "tools" : "functions";
  if (!Array.isArray(list)) throw invalid(key, `\`${key}\` must be an array. Given: ${show(list)}`);
  if (list.length > MAX_TOOLS) throw invalid(key, `\`${key}\` may hold at most ${MAX_TOOLS} tools. Given: ${list.length}`);
  const parsed = list.map((t: unknown, i) => (key === "tools" ? parseTool(t, `tools[${i}]`) : parseFunction(t, `functions[${i}]`)));
  const seen = new Set<string>();
  parsed.forEach((t, i) => {
    if (seen.has(t.name)) throw invalid(`${key}[${i}]`, `Two tools are named ${show(t.name)}.`);
    seen.add(t.name);
  });
  return parsed;
}

function parseTool(tool: unknown, path: string): ToolDefinition {
  if (!isPlainObject(tool)) throw invalid(path, `\`${path}\` must be an object. Given: ${show(tool)}`);
  if (tool["type"] !== "function") throw invalid(`${path}.type`, `\`${path}.type\` must be "function". Given: ${show(tool["type"])}`);
  return parseFunction(tool["function"], `${path}.function`);
}

function parseFunction(fn: unknown, path: string): ToolDefinition {
  if (!isPlainObject(fn)) throw invalid(path, `\`${path}\` must be an object with a \`name\`. Given: ${show(fn)}`);
  const name = fn["name"];
  if (typeof name !== "string" || !TOOL_NAME.test(name)) {
    throw invalid(`${path}.name`, `\`${path}.name\` must be 1-64 letters, digits, _, . or -. Given: ${show(name)}`);
  }
  const description = present(fn, "description");
  if (description !== undefined && typeof description !== "string") throw invalid(`${path}.description`, `\`${path}.description\` must be a string.`);
  const parameters = present(fn, "parameters") ?? { type: "object", properties: {} };
  if (!isPlainObject(parameters)) throw invalid(`${path}.parameters`, `\`${path}.parameters\` must be a JSON schema object. Given: ${show(parameters)}`);
  const type = parameters["type"];
  if (type !== undefined && type !== "object")
    throw invalid(`${path}.parameters`, `\`${path}.parameters\` must describe an object (arguments are a JSON object). Given type: ${show(type)}`);
  compileSchemaParam({ ...parameters, type: "object" }, `${path}.parameters`);
  return { name, description: description ?? null, parameters, strict: optionalBoolean(fn, "strict", false, `${path}.strict`) };
}

function parseToolChoice(body: JsonObject, tools: readonly ToolDefinition[]): ToolChoice {
  const choice = present(body, "tool_choice");
  const legacy = present(body, "function_call");
  if (choice !== undefined && legacy !== undefined) throw invalid("function_call", "Send `tool_choice` or the deprecated `function_call`, not both.");
  const key = choice !== undefined ? "tool_choice" : "function_call";
  const value = choice ?? legacy;
  if (value === undefined) return tools.length > 0 ? { kind: "auto" } : { kind: "none" };
  const parsed = toolChoiceOf(value, key);
  if (parsed.kind === "required" && tools.length === 0) throw invalid(key, `\`${key}\` "required" needs \`tools\`.`);
  if (parsed.kind === "named" && !tools.some((t) => t.name === parsed.name)) {
    throw invalid(key, `\`${key}\` names ${show(parsed.name)}, which is not one of the tools.`);
  }
  return tools.length === 0 ? { kind: "none" } : parsed;
}

function toolChoiceOf(value: unknown, key: string): ToolChoice {
  if (value === "none" || value === "auto" || value === "required") return { kind: value };
  if (isPlainObject(value)) {
    // {type:"function", function:{name}}; the deprecated function_call is {name}.
    const fn = key === "function_call" ? value : value["function"];
    const name = isPlainObject(fn) ? fn["name"] : undefined;
    if ((key === "function_call" || value["type"] === "function") && typeof name === "string") return { kind: "named", name };
  }
  throw invalid(key, `\`${key}\` must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}. Given: ${show(value)}`);
}

/** An assistant message's `tool_calls`: id, function name and JSON-text arguments each. */
export function parseMessageToolCalls(value: unknown, path: string): ToolCall[] {
  if (!Array.isArray(value)) throw invalid(path, `\`${path}\` must be an array. Given: ${show(value)}`);
  return value.map((call: unknown, i): ToolCall => {
    const p = `${path}[${i}]`;
    if (!isPlainObject(call)) throw invalid(p, `\`${p}\` must be an object. Given: ${show(call)}`);
    const type = present(call, "type");
    if (type !== undefined && type !== "function") throw invalid(`${p}.type`, `\`${p}.type\` must be "function". Given: ${show(type)}`);
    const id = present(call, "id");
    if (typeof id !== "string") throw invalid(`${p}.id`, `\`${p}.id\` must be a string. Given: ${show(id)}`);
    const fn = call["function"];
    if (!isPlainObject(fn) || typeof fn["name"] !== "string") throw invalid(`${p}.function`, `\`${p}.function\` must be an object with a string \`name\`.`);
    const args = fn["arguments"];
    // "" is how some clients write a call without arguments.
    if (typeof args !== "string" || !(args.trim() === "" || isJsonObjectText(args))) {
      throw invalid(`${p}.function.arguments`, `\`${p}.function.arguments\` must be a JSON-encoded object (a string). Given: ${show(args)}`);
    }
    return { id, name: fn["name"], arguments: args.trim() === "" ? "{}" : args };
  });
}

/** Whether a text is a JSON object (what a call's arguments must be). */
export function isJsonObjectText(text: string): boolean {
  try {
    return isPlainObject(JSON.parse(text));
  } catch {
    return false;
  }
}

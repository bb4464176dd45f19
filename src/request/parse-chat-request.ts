// Parses a POST /v1/chat/completions body (untrusted JSON) into a validated GenerateRequest plus transport-only flags.
// Owns messages, content parts and the chat-only accepted-and-ignored fields; tools are parse-tools', the content
// grammar parse-response-format's, and the shared sampling and stopping fields parse-sampling's. It must not render the chat template (the engine worker owns the
// tokenizer) and must not let a wrongly typed known field through.

import type { ChatMessage, ChatRole, OutputConstraint } from "./generate-request.js";
import {
  checkIgnoredFields,
  invalid,
  isPlainObject,
  optionalString,
  parseChatLogprobs,
  present,
  rejectUnsupportedExtensions,
  requireModel,
  requireObject,
  show,
  type IgnoredFieldType,
  type JsonObject,
  finishParse,
  type ParsedGenerationRequest,
} from "./parse-sampling.js";
import { parseContentFormat } from "./parse-response-format.js";
import { alt, GrammarBuilder } from "../grammar/gbnf.js";
import { GrammarError } from "../grammar/grammar-error.js";
import { finish, jsonContentRule, toolArgumentsRule } from "../grammar/json-schema-grammar.js";
import { parseMessageToolCalls, parseTools } from "./parse-tools.js";

export type ParsedChatRequest = ParsedGenerationRequest;

const ROLES: readonly ChatRole[] = ["system", "developer", "user", "assistant", "tool"];

/** Accepted and ignored (they steer OpenAI's billing, storage or reasoning, none of which exists here). */
const CHAT_IGNORED_FIELDS: Readonly<Record<string, IgnoredFieldType>> = {
  user: "string",
  safety_identifier: "string",
  prompt_cache_key: "string",
  metadata: "object",
  store: "boolean",
  service_tier: "string",
  reasoning_effort: "string",
  prediction: "object",
};

export function parseChatRequest(body: unknown): ParsedChatRequest {
  const obj = requireObject(body);
  const model = requireModel(obj);
  const messages = parseMessages(obj);
  const content = parseContentFormat(obj);
  const tools = parseTools(obj);
  rejectAudio(obj);
  rejectUnsupportedExtensions(obj);
  checkIgnoredFields(obj, CHAT_IGNORED_FIELDS);
  const output = { content, ...tools };
  checkOutputGrammarSize(output);
  return finishParse(obj, model, { kind: "chat", messages }, parseChatLogprobs(obj), output);
}

/**
 * Each schema fit on its own; the worker joins them (every tool, and the content format) into one grammar, so the
 * union is compiled once here too (without the few literals of the call syntax) and held to the same size limit.
 */
function checkOutputGrammarSize(output: OutputConstraint): void {
  if (output.tools.length === 0 || output.toolChoice.kind === "none") return;
  const g = new GrammarBuilder();
  try {
    const rules = output.tools.map((t, i) => toolArgumentsRule(g, t.parameters, i));
    if (output.content.kind === "json") rules.push(jsonContentRule(g, output.content.schema));
    finish(g, alt(rules));
  } catch (err) {
    if (!(err instanceof GrammarError)) throw err;
    throw invalid("tools", `The tools and response format together cannot be enforced: ${err.message}.`);
  }
}

/** `messages` of a body: a non-empty array of text messages (shared with the tokenize parser). */
export function parseMessages(body: JsonObject): ChatMessage[] {
  const messages = present(body, "messages");
  if (messages === undefined) throw invalid("messages", "`messages` is required.");
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid("messages", `\`messages\` must be a non-empty array. Given: ${show(messages)}`);
  }
  return messages.map((m: unknown, i) => parseMessage(m, `messages[${i}]`));
}

function isChatRole(value: unknown): value is ChatRole {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

function parseMessage(message: unknown, path: string): ChatMessage {
  if (!isPlainObject(message)) {
    throw invalid(path, `\`${path}\` must be an object with \`role\` and \`content\`. Given: ${show(message)}`);
  }
  const role = message["role"];
  if (!isChatRole(role)) {
    throw invalid(`${path}.role`, `\`${path}.role\` must be one of ${ROLES.join(", ")}. Given: ${show(role)}`);
  }
  const given = present(message, "tool_calls");
  const rawCalls = Array.isArray(given) && given.length === 0 ? undefined : given;
  if (rawCalls !== undefined && role !== "assistant") throw invalid(`${path}.tool_calls`, "Only assistant messages carry `tool_calls`.");
  const toolCalls = rawCalls === undefined ? [] : parseMessageToolCalls(rawCalls, `${path}.tool_calls`);
  const name = optionalString(message, "name", `${path}.name`);
  const toolCallId = optionalString(message, "tool_call_id", `${path}.tool_call_id`);
  if (role === "tool" && toolCallId === undefined) throw invalid(`${path}.tool_call_id`, "A tool message needs the `tool_call_id` it answers.");
  // Assistant turns may have null content in OpenAI's schema; every other role must say something.
  const content = parseContent(message["content"], `${path}.content`, role === "assistant");
  return {
    role,
    content,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...(toolCallId !== undefined ? { toolCallId } : {}),
    ...(name !== undefined ? { name } : {}),
  };
}

function parseContent(content: unknown, path: string, nullable: boolean): string {
  if (typeof content === "string") return content;
  if (content === undefined || content === null) {
    if (nullable) return "";
    throw invalid(path, `\`${path}\` is required.`);
  }
  if (!Array.isArray(content)) {
    throw invalid(path, `\`${path}\` must be a string or an array of content parts. Given: ${show(content)}`);
  }
  // Newline join is what vLLM does for text-only part lists, so templates see the same string.
  return content.map((part: unknown, j) => parseTextPart(part, `${path}[${j}]`)).join("\n");
}

function parseTextPart(part: unknown, path: string): string {
  if (!isPlainObject(part)) throw invalid(path, `\`${path}\` must be a content part object. Given: ${show(part)}`);
  const type = part["type"];
  if (type !== "text") {
    throw invalid(`${path}.type`, `\`${path}.type\` ${show(type)} is not supported; only "text" content parts are.`);
  }
  const text = part["text"];
  if (typeof text !== "string") throw invalid(`${path}.text`, `\`${path}.text\` must be a string. Given: ${show(text)}`);
  return text;
}

/** Text out only: audio output and non-text modalities cannot be honoured. */
function rejectAudio(body: JsonObject): void {
  if (present(body, "audio") !== undefined) throw invalid("audio", "Audio output is not supported.");
  const modalities = present(body, "modalities");
  if (modalities === undefined) return;
  if (!Array.isArray(modalities) || modalities.some((m: unknown) => m !== "text")) {
    throw invalid("modalities", `\`modalities\` may only contain "text". Given: ${show(modalities)}`);
  }
}

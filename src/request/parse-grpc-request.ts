// Decoded loom.v1 protobuf requests → the same validated GenerateRequest the HTTP API produces. The proto's field
// names are OpenAI's, so a message is flattened into the OpenAI body shape and goes through the very same parser:
// one set of ranges, defaults and error messages for every transport.

import { LoomError } from "../errors.js";
import type { ChatMessage } from "./generate-request.js";
import { parseChatRequest, parseMessages } from "./parse-chat-request.js";
import { parseCompletionRequest } from "./parse-completion-request.js";
import { isPlainObject, type JsonObject, type ParsedGenerationRequest } from "./parse-sampling.js";
import { parseTokenizeRequest, type TokenizeRequest } from "./parse-tokenize-request.js";

/** loom.v1.GenerateRequest → parsed request (prompt text or token ids). */
export function parseGrpcGenerate(message: unknown): ParsedGenerationRequest {
  const m = asObject(message);
  const tokenIds = isPlainObject(m["token_ids"]) ? m["token_ids"]["ids"] : undefined;
  const prompt = m["text"] ?? tokenIds;
  if (prompt === undefined) throw new LoomError("invalid_request", "`prompt` is required: set `text` or `token_ids`.", "prompt");
  return parseCompletionRequest({ ...common(m), prompt, logprobs: m["logprobs"], ...responseFormat(m) });
}

/** loom.v1.ChatRequest → parsed request (chat messages). */
export function parseGrpcChat(message: unknown): ParsedGenerationRequest {
  const m = asObject(message);
  const top = m["top_logprobs"];
  return parseChatRequest({
    ...common(m),
    messages: chatMessages(m["messages"]),
    ...(top === undefined ? {} : { logprobs: true, top_logprobs: top }),
    ...responseFormat(m),
    ...tools(m),
  });
}

/** loom.v1.ResponseFormat → OpenAI's response_format (or llama-server's grammar); JSON text fields parsed. */
function responseFormat(m: JsonObject): JsonObject {
  const f = m["response_format"];
  if (!isPlainObject(f)) return {};
  const grammar = typeof f["grammar"] === "string" && f["grammar"] !== "" ? { grammar: f["grammar"] } : {};
  const type = typeof f["type"] === "string" && f["type"] !== "" ? f["type"] : null;
  if (type === null) return grammar;
  const schemaText = typeof f["json_schema"] === "string" && f["json_schema"] !== "" ? f["json_schema"] : null;
  const schema = schemaText === null ? undefined : jsonField(schemaText, "response_format.json_schema");
  const format =
    type === "json_schema"
      ? { type, json_schema: { name: f["name"] === "" ? undefined : f["name"], schema, ...(f["strict"] === undefined ? {} : { strict: f["strict"] }) } }
      : { type, ...(schema === undefined ? {} : { schema }) };
  return { ...grammar, response_format: format };
}

/** loom.v1.Tool list, tool_choice and parallel_tool_calls → the OpenAI fields. */
function tools(m: JsonObject): JsonObject {
  const list = Array.isArray(m["tools"]) ? (m["tools"] as unknown[]) : [];
  const out: Record<string, unknown> = {};
  if (list.length > 0) {
    out["tools"] = list.map((t, i) => {
      const tool = isPlainObject(t) ? t : {};
      const params = typeof tool["parameters"] === "string" && tool["parameters"] !== "" ? jsonField(tool["parameters"], `tools[${i}].parameters`) : undefined;
      const description = typeof tool["description"] === "string" && tool["description"] !== "" ? tool["description"] : undefined;
      return {
        type: "function",
        function: { name: tool["name"], description, parameters: params, ...(tool["strict"] === undefined ? {} : { strict: tool["strict"] }) },
      };
    });
  }
  const choice = m["tool_choice"];
  if (typeof choice === "string" && choice !== "") {
    out["tool_choice"] = ["none", "auto", "required"].includes(choice) ? choice : { type: "function", function: { name: choice } };
  }
  if (m["parallel_tool_calls"] !== undefined) out["parallel_tool_calls"] = m["parallel_tool_calls"];
  return out;
}

/** loom.v1.ChatMessage list → OpenAI messages (empty repeated/string fields are absent in protobuf). */
function chatMessages(messages: unknown): unknown {
  if (!Array.isArray(messages)) return messages;
  return messages.map((msg: unknown) => {
    if (!isPlainObject(msg)) return msg;
    const calls = Array.isArray(msg["tool_calls"]) ? (msg["tool_calls"] as unknown[]) : [];
    return {
      role: msg["role"],
      content: msg["content"],
      ...(calls.length > 0
        ? { tool_calls: calls.map((c) => (isPlainObject(c) ? { id: c["id"], type: "function", function: { name: c["name"], arguments: c["arguments"] } } : c)) }
        : {}),
      ...(typeof msg["tool_call_id"] === "string" && msg["tool_call_id"] !== "" ? { tool_call_id: msg["tool_call_id"] } : {}),
      ...(typeof msg["name"] === "string" && msg["name"] !== "" ? { name: msg["name"] } : {}),
    };
  });
}

function jsonField(text: string, param: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new LoomError("invalid_request", `\`${param}\` must be JSON text.`, param);
  }
}

/** loom.v1.TokenizeRequest → parsed tokenize request (the POST /tokenize parser). */
export function parseGrpcTokenize(message: unknown): TokenizeRequest {
  const m = asObject(message);
  const messages = isPlainObject(m["messages"]) ? m["messages"]["messages"] : undefined;
  if (m["text"] === undefined && messages === undefined) throw new LoomError("invalid_request", "Set `text` or `messages`.", "text");
  return parseTokenizeRequest({
    model: m["model"],
    prompt: m["text"],
    messages: chatMessages(messages),
    add_special_tokens: m["add_special_tokens"],
    return_token_strs: m["return_token_strs"],
  });
}

/**
 * The fields a loom.v1.SessionConfig or Respond sets, as OpenAI chat fields; fields left out are absent, so
 * spreading the result over earlier settings replaces only what this message set.
 */
export function grpcSessionFields(message: unknown): JsonObject {
  const m = asObject(message);
  const model = typeof m["model"] === "string" && m["model"] !== "" ? { model: m["model"] } : {};
  const top = m["top_logprobs"];
  return {
    ...model,
    ...nested(m, "sampling"),
    ...nested(m, "stopping"),
    ...(top === undefined ? {} : { logprobs: true, top_logprobs: top }),
    ...responseFormat(m),
    ...tools(m),
  };
}

/** Session settings (grpcSessionFields) plus the conversation → the Chat parser's request. */
export function parseGrpcSessionTurn(settings: JsonObject, messages: readonly ChatMessage[]): ParsedGenerationRequest {
  return parseChatRequest({ ...settings, messages: messages.map(openAIMessage), stream: false });
}

/** A validated message back in OpenAI's shape (the session keeps validated messages; a turn re-parses them). */
function openAIMessage(m: ChatMessage): JsonObject {
  return {
    role: m.role,
    content: m.content,
    ...(m.toolCalls === undefined
      ? {}
      : { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) }),
    ...(m.toolCallId === undefined ? {} : { tool_call_id: m.toolCallId }),
    ...(m.name === undefined ? {} : { name: m.name }),
  };
}

/** loom.v1.AppendMessages → validated chat messages (non-empty, as Chat requires). */
export function parseGrpcMessages(message: unknown): ChatMessage[] {
  return parseMessages({ messages: chatMessages(asObject(message)["messages"]) });
}

function common(m: JsonObject): JsonObject {
  const optional = Object.fromEntries(["n", "cache_prompt", "cache_salt", "speculative"].filter((k) => m[k] !== undefined).map((k) => [k, m[k]]));
  return { model: m["model"], ...nested(m, "sampling"), ...nested(m, "stopping"), ...optional, stream: false };
}

/** The fields of a sub-message, with empty repeated/map fields dropped (protobuf cannot tell empty from absent). */
function nested(m: JsonObject, key: string): JsonObject {
  const sub = m[key];
  if (!isPlainObject(sub)) return {};
  return Object.fromEntries(Object.entries(sub).filter(([, v]) => !isEmpty(v)));
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return isPlainObject(v) && Object.keys(v).length === 0;
}

function asObject(message: unknown): JsonObject {
  if (!isPlainObject(message)) throw new LoomError("invalid_request", "The request message is empty or malformed.");
  return message;
}

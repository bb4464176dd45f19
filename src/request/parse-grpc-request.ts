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
  return parseCompletionRequest({ ...common(m), prompt, logprobs: m["logprobs"] });
}

/** loom.v1.ChatRequest → parsed request (chat messages). */
export function parseGrpcChat(message: unknown): ParsedGenerationRequest {
  const m = asObject(message);
  const top = m["top_logprobs"];
  return parseChatRequest({ ...common(m), messages: m["messages"], ...(top === undefined ? {} : { logprobs: true, top_logprobs: top }) });
}

/** loom.v1.TokenizeRequest → parsed tokenize request (the POST /tokenize parser). */
export function parseGrpcTokenize(message: unknown): TokenizeRequest {
  const m = asObject(message);
  const messages = isPlainObject(m["messages"]) ? m["messages"]["messages"] : undefined;
  if (m["text"] === undefined && messages === undefined) throw new LoomError("invalid_request", "Set `text` or `messages`.", "text");
  return parseTokenizeRequest({
    model: m["model"],
    prompt: m["text"],
    messages,
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
  return { ...model, ...nested(m, "sampling"), ...nested(m, "stopping"), ...(top === undefined ? {} : { logprobs: true, top_logprobs: top }) };
}

/** Session settings (grpcSessionFields) plus the conversation → the Chat parser's request. */
export function parseGrpcSessionTurn(settings: JsonObject, messages: readonly ChatMessage[]): ParsedGenerationRequest {
  return parseChatRequest({ ...settings, messages, stream: false });
}

/** loom.v1.AppendMessages → validated chat messages (non-empty, as Chat requires). */
export function parseGrpcMessages(message: unknown): ChatMessage[] {
  return parseMessages({ messages: asObject(message)["messages"] });
}

function common(m: JsonObject): JsonObject {
  return { model: m["model"], ...nested(m, "sampling"), ...nested(m, "stopping"), stream: false };
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

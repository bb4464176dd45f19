// POST /tokenize bodies (vLLM's shape: `model`, `prompt` or `messages`, `add_special_tokens`, `return_token_strs`)
// into a validated TokenizeRequest; loom.v1.TokenizeRequest is flattened into the same shape first. The engine
// worker tokenizes it exactly as a generation with that prompt: text as Generate does, messages as Chat does.

import type { ChatMessage } from "./generate-request.js";
import { parseMessages } from "./parse-chat-request.js";
import { invalid, optionalBoolean, present, requireModel, requireObject, show } from "./parse-sampling.js";

export type TokenizeInput =
  /** BOS is prepended when the model wants one, unless addSpecialTokens is false. */
  | { readonly kind: "text"; readonly text: string; readonly addSpecialTokens: boolean }
  /** Rendered with the model's chat template (generation prompt included), as Chat renders them. */
  | { readonly kind: "chat"; readonly messages: readonly ChatMessage[] };

export interface TokenizeRequest {
  readonly model: string;
  readonly input: TokenizeInput;
  /** Also return each token's text. */
  readonly returnTokenStrs: boolean;
}

export interface TokenizeResult {
  readonly tokens: readonly number[];
  /** One string per token (special tokens as their text), or null when not asked for. */
  readonly tokenStrs: readonly string[] | null;
}

export function parseTokenizeRequest(body: unknown): TokenizeRequest {
  const obj = requireObject(body);
  const model = requireModel(obj);
  const prompt = present(obj, "prompt");
  const hasMessages = present(obj, "messages") !== undefined;
  if ((prompt === undefined) === !hasMessages) throw invalid("prompt", "Give exactly one of `prompt` (a string) and `messages`.");
  const returnTokenStrs = optionalBoolean(obj, "return_token_strs", false);
  if (hasMessages) {
    // The chat template writes its own special tokens; a knob that did nothing would mislead.
    if (present(obj, "add_special_tokens") !== undefined)
      throw invalid("add_special_tokens", "`add_special_tokens` applies to `prompt` only; chat messages are tokenized as Chat tokenizes them.");
    return { model, input: { kind: "chat", messages: parseMessages(obj) }, returnTokenStrs };
  }
  if (typeof prompt !== "string") throw invalid("prompt", `\`prompt\` must be a string. Given: ${show(prompt)}`);
  return { model, input: { kind: "text", text: prompt, addSpecialTokens: optionalBoolean(obj, "add_special_tokens", true) }, returnTokenStrs };
}

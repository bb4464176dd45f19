// Parses a POST /v1/completions (legacy) body (untrusted JSON) into a validated GenerateRequest plus transport flags.
// Owns `prompt` (string | [string] | token ids | [token ids]) and the completion-only echo/suffix/best_of checks; the
// shared sampling and stopping fields are validated by parse-sampling. It must not tokenize (the engine worker owns
// the tokenizer, so token ids are range-checked against the vocabulary there) and must not accept batched prompts.

import { FREE_OUTPUT, type PromptInput } from "./generate-request.js";
import { parseContentFormat } from "./parse-response-format.js";
import {
  checkIgnoredFields,
  checkTokenIds,
  invalid,
  optionalBoolean,
  optionalNumber,
  optionalString,
  parseCompletionLogprobs,
  present,
  rejectUnsupportedExtensions,
  requireModel,
  requireObject,
  show,
  type JsonObject,
  finishParse,
  type ParsedGenerationRequest,
} from "./parse-sampling.js";

export type ParsedCompletionRequest = ParsedGenerationRequest;

export function parseCompletionRequest(body: unknown): ParsedCompletionRequest {
  const obj = requireObject(body);
  const model = requireModel(obj);
  const prompt = parsePrompt(obj);
  rejectUnsupportedCompletionFields(obj);
  rejectUnsupportedExtensions(obj);
  checkIgnoredFields(obj, { user: "string" });
  const content = parseContentFormat(obj);
  return finishParse(obj, model, prompt, parseCompletionLogprobs(obj), { ...FREE_OUTPUT, content });
}

const PROMPT_SHAPES = "a string, an array of strings, an array of token ids, or an array of token-id arrays";

function batched(count: number): never {
  throw invalid("prompt", `batched prompts are not supported; send one prompt per request. Given: ${count} prompts`);
}

function tokensPrompt(ids: unknown, param: string): PromptInput {
  const checked = checkTokenIds(ids, param);
  if (checked.length === 0) throw invalid(param, `\`${param}\` must not be an empty token list.`);
  return { kind: "tokens", ids: checked };
}

function textPrompt(text: string, param: string): PromptInput {
  // An empty prompt gives the model nothing to condition on (and no tokens at all without BOS).
  if (text.length === 0) throw invalid(param, `\`${param}\` must not be empty.`);
  return { kind: "text", text };
}

function parsePrompt(body: JsonObject): PromptInput {
  const prompt = present(body, "prompt");
  if (prompt === undefined) throw invalid("prompt", "`prompt` is required.");
  if (typeof prompt === "string") return textPrompt(prompt, "prompt");
  if (!Array.isArray(prompt)) throw invalid("prompt", `\`prompt\` must be ${PROMPT_SHAPES}. Given: ${show(prompt)}`);
  const items: readonly unknown[] = prompt;
  if (items.length === 0) throw invalid("prompt", "`prompt` must not be empty.");
  if (items.every((x) => typeof x === "number")) return tokensPrompt(items, "prompt");
  if (items.every((x) => typeof x === "string")) {
    if (items.length > 1) batched(items.length);
    return textPrompt(String(items[0]), "prompt[0]");
  }
  if (items.every((x) => Array.isArray(x))) {
    if (items.length > 1) batched(items.length);
    return tokensPrompt(items[0], "prompt[0]");
  }
  throw invalid("prompt", `\`prompt\` must be ${PROMPT_SHAPES}. Given: ${show(prompt)}`);
}

/** echo, suffix and best_of > 1 change the output in ways the engine cannot produce yet: 400 rather than ignore. */
function rejectUnsupportedCompletionFields(body: JsonObject): void {
  if (optionalBoolean(body, "echo", false)) throw invalid("echo", "`echo` is not supported.");
  const suffix = optionalString(body, "suffix");
  if (suffix !== undefined && suffix.length > 0) throw invalid("suffix", "`suffix` is not supported.");
  const bestOf = optionalNumber(body, "best_of", { min: 1, max: Infinity, integer: true, text: "a positive integer" }, 1);
  if (bestOf > 1) throw invalid("best_of", `\`best_of\` > 1 is not supported. Given: ${bestOf}`);
}

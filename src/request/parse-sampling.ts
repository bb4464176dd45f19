// Field validators shared by the chat and legacy-completions parsers: sampling, stopping, n, logprobs, streaming.
// Owns every range and every 400 message for those fields. It must not default a field of the wrong type (null is
// "absent", anything else that is not the documented type is a 400), and it knows nothing of HTTP or the engine.

import { randomInt } from "node:crypto";
import { echo, LoomError } from "../errors.js";
import {
  DEFAULT_SAMPLING,
  FREE_OUTPUT,
  markValidated,
  type CachePolicy,
  type GenerateRequest,
  type OutputConstraint,
  type PromptInput,
  type SamplingParams,
  type StoppingParams,
} from "./generate-request.js";

export type JsonObject = Readonly<Record<string, unknown>>;

/** OpenAI allows 4 stop sequences; we accept up to 16 because the matcher handles more and vLLM has no cap. */
export const MAX_STOP_SEQUENCES = 16;
export const MAX_CHAT_TOP_LOGPROBS = 20;
export const MAX_COMPLETION_LOGPROBS = 5;

/** The only error these parsers throw. */
export function invalid(param: string, message: string): LoomError {
  return new LoomError("invalid_request", message, param);
}

/** A short, JSON-ish rendering of a client value for "Given: …" (bounded in size and depth: errors.ts echo). */
export const show = echo;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function requireObject(body: unknown): JsonObject {
  if (!isPlainObject(body)) throw invalid("body", `The request body must be a JSON object. Given: ${show(body)}`);
  return body;
}

/** null counts as absent: OpenAI's schema marks these fields nullable and clients (LangChain, explicit None) send null. */
export function present(obj: JsonObject, key: string): unknown {
  const value = obj[key];
  return value === null ? undefined : value;
}

export interface Range {
  readonly min: number;
  readonly max: number;
  readonly minExclusive?: boolean;
  readonly integer?: boolean;
  /** Overrides the generated "a number between …" wording. */
  readonly text?: string;
}

function rangeText(r: Range): string {
  if (r.text !== undefined) return r.text;
  const kind = r.integer === true ? "an integer" : "a number";
  if (r.max === Infinity) return `${kind} ${r.minExclusive === true ? ">" : ">="} ${r.min}`;
  if (r.minExclusive === true) return `${kind} greater than ${r.min} and at most ${r.max}`;
  return `${kind} between ${r.min} and ${r.max}`;
}

function inRange(value: unknown, r: Range): value is number {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  if (r.integer === true && !Number.isSafeInteger(value)) return false;
  return (r.minExclusive === true ? value > r.min : value >= r.min) && value <= r.max;
}

export function checkNumber(value: unknown, param: string, r: Range): number {
  if (!inRange(value, r)) throw invalid(param, `\`${param}\` must be ${rangeText(r)}. Given: ${show(value)}`);
  return value;
}

export function optionalNumber(obj: JsonObject, key: string, r: Range, fallback: number, param = key): number {
  const value = present(obj, key);
  return value === undefined ? fallback : checkNumber(value, param, r);
}

export function optionalBoolean(obj: JsonObject, key: string, fallback: boolean, param = key): boolean {
  const value = present(obj, key);
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalid(param, `\`${param}\` must be a boolean. Given: ${show(value)}`);
  return value;
}

export function optionalString(obj: JsonObject, key: string, param = key): string | undefined {
  const value = present(obj, key);
  if (value === undefined || typeof value === "string") return value;
  throw invalid(param, `\`${param}\` must be a string. Given: ${show(value)}`);
}

export function requireModel(body: JsonObject): string {
  const model = present(body, "model");
  if (model === undefined) throw invalid("model", "`model` is required.");
  if (typeof model !== "string" || model.length === 0) {
    throw invalid("model", `\`model\` must be a non-empty string. Given: ${show(model)}`);
  }
  return model;
}

export type IgnoredFieldType = "string" | "boolean" | "object" | "array";

/** Fields we accept and ignore still get their type checked: a known field with the wrong type is a 400. */
export function checkIgnoredFields(body: JsonObject, table: Readonly<Record<string, IgnoredFieldType>>): void {
  for (const [key, type] of Object.entries(table)) {
    const value = present(body, key);
    if (value === undefined) continue;
    const ok = type === "object" ? isPlainObject(value) : type === "array" ? Array.isArray(value) : typeof value === type;
    if (!ok) throw invalid(key, `\`${key}\` must be ${type === "array" || type === "object" ? "an" : "a"} ${type}. Given: ${show(value)}`);
  }
}

/** vLLM extensions that change what is generated; silently ignoring them would return wrong output, so 400. */
const UNSUPPORTED_EXTENSIONS = ["structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar", "prompt_logprobs"];

export function rejectUnsupportedExtensions(body: JsonObject): void {
  for (const key of UNSUPPORTED_EXTENSIONS) {
    if (present(body, key) !== undefined) throw invalid(key, `\`${key}\` is not supported.`);
  }
  if (optionalBoolean(body, "use_beam_search", false)) throw invalid("use_beam_search", "Beam search is not supported.");
}

/** OpenAI's limit on `n`. */
export const MAX_CHOICES = 128;

/** How many choices (`n`): 1..MAX_CHOICES, each its own sequence sharing the prompt's KV. */
export function parseChoiceCount(body: JsonObject): number {
  return optionalNumber(body, "n", { min: 1, max: MAX_CHOICES, integer: true, text: `an integer from 1 to ${MAX_CHOICES}` }, 1);
}

function parseTopK(body: JsonObject): number {
  const topK = optionalNumber(body, "top_k", { min: -1, max: Infinity, integer: true, text: "an integer >= 0, or -1 to disable" }, 0);
  // -1 is vLLM's spelling of "disabled"; ours is 0.
  return topK === -1 ? 0 : topK;
}

function parseSeed(body: JsonObject): number {
  const seed = present(body, "seed");
  // A fresh 31-bit seed per request: two unseeded requests must never share a random stream.
  if (seed === undefined) return randomInt(0, 2 ** 31);
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw invalid("seed", `\`seed\` must be an integer. Given: ${show(seed)}`);
  }
  return seed;
}

const TOKEN_ID_KEY = /^\d+$/;

function parseLogitBias(body: JsonObject): readonly (readonly [number, number])[] {
  const bias = present(body, "logit_bias");
  if (bias === undefined) return [];
  if (!isPlainObject(bias)) {
    throw invalid("logit_bias", `\`logit_bias\` must be an object mapping token ids to numbers between -100 and 100. Given: ${show(bias)}`);
  }
  const pairs = Object.entries(bias).map(([key, value]): readonly [number, number] => {
    const id = Number(key);
    if (!TOKEN_ID_KEY.test(key) || !Number.isSafeInteger(id)) {
      throw invalid("logit_bias", `\`logit_bias\` keys must be non-negative integer token ids. Given key: ${show(key)}`);
    }
    return [id, checkNumber(value, `logit_bias.${key}`, { min: -100, max: 100 })];
  });
  // Sorted so equal requests produce equal parameters regardless of the client's key order.
  return pairs.sort((a, b) => a[0] - b[0]);
}

export function parseSamplingParams(body: JsonObject): SamplingParams {
  const d = DEFAULT_SAMPLING;
  return {
    temperature: optionalNumber(body, "temperature", { min: 0, max: 2 }, d.temperature),
    topP: optionalNumber(body, "top_p", { min: 0, max: 1, minExclusive: true }, d.topP),
    topK: parseTopK(body),
    minP: optionalNumber(body, "min_p", { min: 0, max: 1 }, d.minP),
    seed: parseSeed(body),
    repetitionPenalty: optionalNumber(body, "repetition_penalty", { min: 0, max: 10, minExclusive: true }, d.repetitionPenalty),
    presencePenalty: optionalNumber(body, "presence_penalty", { min: -2, max: 2 }, d.presencePenalty),
    frequencyPenalty: optionalNumber(body, "frequency_penalty", { min: -2, max: 2 }, d.frequencyPenalty),
    logitBias: parseLogitBias(body),
  };
}

function parseStop(body: JsonObject): string[] {
  const stop = present(body, "stop");
  if (stop === undefined) return [];
  const single = typeof stop === "string";
  const list: unknown = single ? [stop] : stop;
  if (!Array.isArray(list)) throw invalid("stop", `\`stop\` must be a string or an array of strings. Given: ${show(stop)}`);
  if (list.length > MAX_STOP_SEQUENCES) {
    throw invalid("stop", `\`stop\` may hold at most ${MAX_STOP_SEQUENCES} sequences. Given: ${list.length}`);
  }
  return list.map((item: unknown, i): string => {
    const param = single ? "stop" : `stop[${i}]`;
    if (typeof item !== "string" || item.length === 0) throw invalid(param, `\`${param}\` must be a non-empty string. Given: ${show(item)}`);
    return item;
  });
}

/** Non-negative integer token ids; `param` names the array so each bad element is reported as param[i]. */
export function checkTokenIds(value: unknown, param: string): number[] {
  if (!Array.isArray(value)) throw invalid(param, `\`${param}\` must be an array of token ids. Given: ${show(value)}`);
  return value.map((id: unknown, i) => checkNumber(id, `${param}[${i}]`, { min: 0, max: Infinity, integer: true, text: "a non-negative integer token id" }));
}

const MAX_TOKENS_RANGE: Range = { min: 1, max: Infinity, integer: true, text: "a positive integer or null" };

/** Both names are validated so neither is silently dropped; max_completion_tokens (the current name) wins. */
function parseMaxTokens(body: JsonObject): number | null {
  const current = present(body, "max_completion_tokens");
  const legacy = present(body, "max_tokens");
  const cur = current === undefined ? null : checkNumber(current, "max_completion_tokens", MAX_TOKENS_RANGE);
  const old = legacy === undefined ? null : checkNumber(legacy, "max_tokens", MAX_TOKENS_RANGE);
  return cur ?? old;
}

function parseMinTokens(body: JsonObject, maxTokens: number | null): number {
  const min = optionalNumber(body, "min_tokens", { min: 0, max: Infinity, integer: true }, 0);
  if (maxTokens !== null && min > maxTokens) {
    throw invalid("min_tokens", `\`min_tokens\` must not exceed max_tokens (${maxTokens}). Given: ${min}`);
  }
  return min;
}

export function parseStoppingParams(body: JsonObject): StoppingParams {
  const maxTokens = parseMaxTokens(body);
  const ids = present(body, "stop_token_ids");
  return {
    maxTokens,
    minTokens: parseMinTokens(body, maxTokens),
    stop: parseStop(body),
    stopTokenIds: ids === undefined ? [] : checkTokenIds(ids, "stop_token_ids"),
    ignoreEos: optionalBoolean(body, "ignore_eos", false),
    includeStopStr: optionalBoolean(body, "include_stop_str_in_output", false),
  };
}

/** Longest accepted `cache_salt`: a salt is a tenant or user key, not a payload. */
const MAX_CACHE_SALT_CHARS = 1024;

/** llama-server's `cache_prompt` (default true) and vLLM's `cache_salt` (a non-empty string). */
export function parseCachePolicy(body: JsonObject): CachePolicy {
  const salt = present(body, "cache_salt");
  if (salt !== undefined && (typeof salt !== "string" || salt.length === 0 || salt.length > MAX_CACHE_SALT_CHARS)) {
    throw invalid("cache_salt", `\`cache_salt\` must be a non-empty string of at most ${MAX_CACHE_SALT_CHARS} characters. Given: ${show(salt)}`);
  }
  return { reuse: optionalBoolean(body, "cache_prompt", true), salt: salt ?? null };
}

/** Chat: `logprobs` boolean plus `top_logprobs` 0..20. Returns null (off) or the number of alternatives. */
export function parseChatLogprobs(body: JsonObject): number | null {
  const on = optionalBoolean(body, "logprobs", false);
  const top = present(body, "top_logprobs");
  if (top === undefined) return on ? 0 : null;
  const k = checkNumber(top, "top_logprobs", { min: 0, max: MAX_CHAT_TOP_LOGPROBS, integer: true });
  if (!on) throw invalid("top_logprobs", "`top_logprobs` requires `logprobs` to be true.");
  return k;
}

/** Legacy completions: `logprobs` is itself the number of alternatives, 0..5; 0 still returns sampled-token logprobs. */
export function parseCompletionLogprobs(body: JsonObject): number | null {
  const value = present(body, "logprobs");
  if (value === undefined) return null;
  return checkNumber(value, "logprobs", { min: 0, max: MAX_COMPLETION_LOGPROBS, integer: true });
}

export interface StreamSettings {
  readonly stream: boolean;
  /** stream_options.include_usage: send a final usage chunk before [DONE]. */
  readonly includeUsage: boolean;
}

export function parseStreamSettings(body: JsonObject): StreamSettings {
  const stream = optionalBoolean(body, "stream", false);
  const options = present(body, "stream_options");
  if (options === undefined) return { stream, includeUsage: false };
  if (!stream) throw invalid("stream_options", "`stream_options` is only allowed when `stream` is true.");
  if (!isPlainObject(options)) throw invalid("stream_options", `\`stream_options\` must be an object. Given: ${show(options)}`);
  // Obfuscation padding is never sent; the flag is only type-checked.
  optionalBoolean(options, "include_obfuscation", false, "stream_options.include_obfuscation");
  return { stream, includeUsage: optionalBoolean(options, "include_usage", false, "stream_options.include_usage") };
}

/** What an endpoint parser returns: the engine's request plus the transport-only switches. */
export interface ParsedGenerationRequest {
  readonly request: GenerateRequest;
  readonly stream: boolean;
  /** stream_options.include_usage. */
  readonly includeUsage: boolean;
  /** Whether the response carries `choices[].logprobs` (request.logprobs holds how many alternatives). */
  readonly logprobs: boolean;
  /** Choices to generate (`n`). */
  readonly n: number;
}

/** The common tail of both endpoint parsers: sampling, stopping and stream settings, then the brand. */
export function finishParse(
  body: JsonObject,
  model: string,
  prompt: PromptInput,
  logprobs: number | null,
  output: OutputConstraint = FREE_OUTPUT,
): ParsedGenerationRequest {
  const { stream, includeUsage } = parseStreamSettings(body);
  const stopping = parseStoppingParams(body);
  checkConstraintCanFinish(output, stopping);
  if (output.content.kind === "gbnf" && output.toolChoice.kind !== "none") {
    throw invalid("grammar", '`grammar` cannot be combined with tools; use `response_format` with a JSON schema, or tool_choice "none".');
  }
  const speculative = present(body, "speculative") === undefined ? {} : { speculative: optionalBoolean(body, "speculative", true) };
  const request = markValidated({
    model,
    prompt,
    sampling: parseSamplingParams(body),
    stopping,
    logprobs,
    output,
    cache: parseCachePolicy(body),
    ...speculative,
  });
  return { request, stream, includeUsage, logprobs: logprobs !== null, n: parseChoiceCount(body) };
}

/**
 * A grammar-constrained output ends when its grammar is complete: only end-of-generation may follow. Masking it
 * (ignore_eos, min_tokens) leaves nothing to sample, so those combinations are refused up front.
 */
function checkConstraintCanFinish(output: OutputConstraint, stopping: StoppingParams): void {
  const formatted = output.content.kind !== "text";
  const constrained = formatted || output.toolChoice.kind === "required" || output.toolChoice.kind === "named";
  if (!constrained) return;
  const what = formatted ? "A constrained output (response_format, json_schema or grammar)" : "A required tool call";
  if (stopping.ignoreEos) throw invalid("ignore_eos", `${what} cannot be combined with \`ignore_eos\`: it must end when complete.`);
  if (stopping.minTokens > 0) throw invalid("min_tokens", `${what} cannot be combined with \`min_tokens\`: it must end when complete.`);
}

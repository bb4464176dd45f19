// TypeScript shapes of the OpenAI HTTP wire (chat, legacy completions, models) as Loom speaks it.
// Owns field names and nullability exactly as the official SDK reads them; holds no validation (that is in
// src/request/parse-*) and no transport logic. Only tiny pure constructors live here besides the types.

import type { Usage } from "../request/generate-request.js";

// ---------------------------------------------------------------------------------------------------------------
// Requests. These describe what we accept; the parsers take `unknown` and never trust these types on input.
// ---------------------------------------------------------------------------------------------------------------

export type ChatRoleWire = "system" | "developer" | "user" | "assistant" | "tool";

/** Only `text` parts are supported; other part types are listed so the parser can name them in its 400. */
export type ChatContentPart =
  { readonly type: "text"; readonly text: string } | { readonly type: "image_url" | "input_audio" | "file" | "refusal"; readonly [key: string]: unknown };

export interface ChatMessageWire {
  readonly role: ChatRoleWire;
  /** null only for assistant turns (OpenAI allows it when the turn carried tool calls). */
  readonly content: string | readonly ChatContentPart[] | null;
  readonly name?: string;
  readonly tool_call_id?: string;
}

export interface StreamOptionsWire {
  readonly include_usage?: boolean | null;
  readonly include_obfuscation?: boolean | null;
}

/** Sampling/stopping fields shared by chat and completions, including the vLLM-style extensions we honour. */
export interface SamplingFieldsWire {
  readonly model: string;
  readonly temperature?: number | null;
  readonly top_p?: number | null;
  readonly n?: number | null;
  readonly seed?: number | null;
  readonly presence_penalty?: number | null;
  readonly frequency_penalty?: number | null;
  readonly logit_bias?: Readonly<Record<string, number>> | null;
  readonly stop?: string | readonly string[] | null;
  readonly max_tokens?: number | null;
  readonly stream?: boolean | null;
  readonly stream_options?: StreamOptionsWire | null;
  readonly user?: string;
  // Extensions (vLLM names).
  readonly top_k?: number | null;
  readonly min_p?: number | null;
  readonly repetition_penalty?: number | null;
  readonly min_tokens?: number | null;
  readonly stop_token_ids?: readonly number[] | null;
  readonly ignore_eos?: boolean | null;
  readonly include_stop_str_in_output?: boolean | null;
}

export interface ChatCompletionRequest extends SamplingFieldsWire {
  readonly messages: readonly ChatMessageWire[];
  /** Preferred over the deprecated `max_tokens` when both are set. */
  readonly max_completion_tokens?: number | null;
  readonly logprobs?: boolean | null;
  /** 0..20; only with logprobs=true. */
  readonly top_logprobs?: number | null;
  /** Only `{type:"text"}` is accepted. */
  readonly response_format?: { readonly type: "text" } | null;
  /** Only absent/empty is accepted for now. */
  readonly tools?: readonly unknown[] | null;
  readonly tool_choice?: "none" | null;
}

export interface CompletionRequest extends SamplingFieldsWire {
  /** string | [string] | token ids | [token ids]; batches of more than one prompt are rejected. */
  readonly prompt: string | readonly string[] | readonly number[] | readonly (readonly number[])[];
  /** Integer 0..5: how many alternatives per token. */
  readonly logprobs?: number | null;
  /** Only false is accepted. */
  readonly echo?: boolean | null;
  /** Only 1 is accepted. */
  readonly best_of?: number | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared response pieces.
// ---------------------------------------------------------------------------------------------------------------

export interface UsageWire {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

/** OpenAI's finish reasons that Loom can produce (no content filter). */
export type FinishReasonWire = "stop" | "length" | "tool_calls";

/** A complete call in a chat.completion message. */
export interface ToolCallWire {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

/** One streamed piece of a call: the first carries id, type and name; later ones only argument text. */
export interface ToolCallDeltaWire {
  readonly index: number;
  readonly id?: string;
  readonly type?: "function";
  readonly function: { readonly name?: string; readonly arguments: string };
}

// ---------------------------------------------------------------------------------------------------------------
// Chat completions.
// ---------------------------------------------------------------------------------------------------------------

export interface TopLogprobWire {
  readonly token: string;
  /** -9999.0 stands for "very unlikely" (OpenAI's convention for -Infinity, which JSON cannot carry). */
  readonly logprob: number;
  /** UTF-8 bytes of the token; null when the token has no byte representation. */
  readonly bytes: number[] | null;
}

export interface TokenLogprobWire extends TopLogprobWire {
  readonly top_logprobs: TopLogprobWire[];
}

export interface ChatLogprobsWire {
  readonly content: TokenLogprobWire[] | null;
  readonly refusal: null;
}

export interface ChatCompletionMessageWire {
  readonly role: "assistant";
  /** null when the reply is only tool calls. */
  readonly content: string | null;
  readonly refusal: null;
  readonly tool_calls?: ToolCallWire[];
}

export interface ChatCompletionChoice {
  readonly index: number;
  readonly message: ChatCompletionMessageWire;
  readonly logprobs: ChatLogprobsWire | null;
  readonly finish_reason: FinishReasonWire;
}

export interface ChatCompletion {
  readonly id: string;
  readonly object: "chat.completion";
  readonly created: number;
  readonly model: string;
  readonly system_fingerprint?: string;
  readonly choices: ChatCompletionChoice[];
  readonly usage: UsageWire;
}

export interface ChatCompletionDelta {
  readonly role?: "assistant";
  readonly content?: string;
  readonly refusal?: null;
  readonly tool_calls?: ToolCallDeltaWire[];
}

export interface ChatCompletionChunkChoice {
  readonly index: number;
  readonly delta: ChatCompletionDelta;
  readonly logprobs?: ChatLogprobsWire | null;
  readonly finish_reason: FinishReasonWire | null;
}

export interface ChatCompletionChunk {
  /** Same id and created on every chunk of one stream. */
  readonly id: string;
  readonly object: "chat.completion.chunk";
  readonly created: number;
  readonly model: string;
  readonly system_fingerprint?: string;
  /** Empty only in the final usage chunk (stream_options.include_usage). */
  readonly choices: ChatCompletionChunkChoice[];
  /** With include_usage: null on every chunk but the last, which carries the totals. */
  readonly usage?: UsageWire | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy text completions: the final body and every stream chunk share one shape.
// ---------------------------------------------------------------------------------------------------------------

export interface CompletionLogprobsWire {
  readonly tokens: string[];
  readonly token_logprobs: (number | null)[];
  /** One {token: logprob} map per position; null where no alternatives were asked for. */
  readonly top_logprobs: (Record<string, number> | null)[] | null;
  /** Character offset of each token in the returned text. */
  readonly text_offset: number[];
}

export interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  readonly logprobs: CompletionLogprobsWire | null;
  /** null on stream chunks before the last one. */
  readonly finish_reason: FinishReasonWire | null;
}

export interface TextCompletion {
  readonly id: string;
  readonly object: "text_completion";
  readonly created: number;
  readonly model: string;
  readonly system_fingerprint?: string;
  readonly choices: CompletionChoice[];
  /** Always on the final body; on stream chunks null/absent except the include_usage chunk. */
  readonly usage?: UsageWire | null;
}

/** A stream chunk is the same object type as the final body. */
export type TextCompletionChunk = TextCompletion;

// ---------------------------------------------------------------------------------------------------------------
// Models.
// ---------------------------------------------------------------------------------------------------------------

export interface ModelObject {
  readonly id: string;
  readonly object: "model";
  /** Unix seconds. */
  readonly created: number;
  readonly owned_by: string;
  /** vLLM extra: the context length one request can use. */
  readonly max_model_len?: number;
}

export interface ModelList {
  readonly object: "list";
  readonly data: ModelObject[];
}

// ---------------------------------------------------------------------------------------------------------------
// Tiny constructors.
// ---------------------------------------------------------------------------------------------------------------

/** Engine usage → wire usage; total is derived here so no caller can get it inconsistent. */
export function toWireUsage(usage: Usage): UsageWire {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

export function modelObject(id: string, created: number, ownedBy: string, maxModelLen?: number): ModelObject {
  const base = { id, object: "model" as const, created, owned_by: ownedBy };
  return maxModelLen === undefined ? base : { ...base, max_model_len: maxModelLen };
}

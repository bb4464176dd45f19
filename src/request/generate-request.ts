// The validated, transport-neutral request the engine accepts, and the usage it reports back.
// Transports parse wire JSON (or protobuf) into a GenerateRequest with the parse-* modules; the engine accepts nothing
// else (the brand makes an unvalidated object a compile error). Everything here is structured-clone safe.

export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
  /** An assistant turn's tool calls (OpenAI's `tool_calls`), rendered back through the chat template. */
  readonly toolCalls?: readonly ToolCall[];
  /** A tool turn: which call it answers. */
  readonly toolCallId?: string;
  readonly name?: string;
}

/** One function call, as the wire carries it: `arguments` is JSON text (an object). */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

/** A function the model may call (OpenAI `tools[].function`); its parameter schema compiles to a grammar. */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string | null;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly strict: boolean;
}

export type ToolChoice =
  { readonly kind: "none" } | { readonly kind: "auto" } | { readonly kind: "required" } | { readonly kind: "named"; readonly name: string };

/** The form of a response's content: free text, JSON (a schema, or any object), or a client's own GBNF. */
export type ContentFormat =
  | { readonly kind: "text" }
  /** schema null: any JSON object (response_format json_object). */
  | { readonly kind: "json"; readonly schema: unknown }
  | { readonly kind: "gbnf"; readonly grammar: string };

/** What the output must look like: a content format and/or tool calls (compiled to one grammar in the worker). */
export interface OutputConstraint {
  readonly content: ContentFormat;
  /** Tools rendered into the prompt; calls are parsed from the output unless toolChoice is none. */
  readonly tools: readonly ToolDefinition[];
  readonly toolChoice: ToolChoice;
  /** Whether one response may carry several calls. */
  readonly parallelToolCalls: boolean;
}

export const FREE_OUTPUT: OutputConstraint = { content: { kind: "text" }, tools: [], toolChoice: { kind: "none" }, parallelToolCalls: true };

export type PromptInput =
  /** Rendered with the model's chat template in the engine worker, which owns the tokenizer. */
  | { readonly kind: "chat"; readonly messages: readonly ChatMessage[] }
  /** Raw text; BOS is added when the model wants one. */
  | { readonly kind: "text"; readonly text: string }
  /** Token ids, used as given. */
  | { readonly kind: "tokens"; readonly ids: readonly number[] };

export interface SamplingParams {
  /** 0 means greedy. */
  readonly temperature: number;
  readonly topP: number;
  /** 0 disables top-k. */
  readonly topK: number;
  readonly minP: number;
  /** Always set: the parser draws a random seed when the client gives none, so no two requests share a stream. */
  readonly seed: number;
  /** Multiplicative (llama.cpp/vLLM `repetition_penalty`); 1 disables. */
  readonly repetitionPenalty: number;
  /** OpenAI additive penalties, -2..2. */
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** [tokenId, bias] pairs, bias -100..100 added to the logit. */
  readonly logitBias: readonly (readonly [number, number])[];
}

export interface StoppingParams {
  /** Generated-token cap; null = until the context is full. */
  readonly maxTokens: number | null;
  /** EOS and stop strings are ignored before this many tokens. */
  readonly minTokens: number;
  /** Matched on detokenized text across token boundaries; not included in the output unless includeStopStr. */
  readonly stop: readonly string[];
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  readonly includeStopStr: boolean;
}

export interface GenerateRequestFields {
  readonly model: string;
  readonly prompt: PromptInput;
  readonly sampling: SamplingParams;
  readonly stopping: StoppingParams;
  /** null: no logprobs; otherwise how many top alternatives per token (0..20). */
  readonly logprobs: number | null;
  readonly output: OutputConstraint;
  /** Prefix-cache use; absent: DEFAULT_CACHE_POLICY. */
  readonly cache?: CachePolicy;
  /**
   * Loom's extension: false, no speculative decoding for this request; true, speculate at every step (even where the
   * cost policy says it would not pay: for measurements); absent, as the server's policy decides.
   */
  readonly speculative?: boolean;
}

/** How a request may use the prefix cache. */
export interface CachePolicy {
  /** False (cache_prompt: false): compute the whole prompt; its KV may still serve later requests. */
  readonly reuse: boolean;
  /** KV is shared only among requests with the same salt (vLLM's cache_salt); null: the unsalted scope. */
  readonly salt: string | null;
}

export const DEFAULT_CACHE_POLICY: CachePolicy = { reuse: true, salt: null };

declare const validated: unique symbol;
/** A request that went through a parse-* function. */
export type GenerateRequest = GenerateRequestFields & { readonly [validated]: true };

/** The only way to brand a request: parsers call it after every field is checked. */
export function markValidated(fields: GenerateRequestFields): GenerateRequest {
  return fields as GenerateRequest;
}

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens whose KV came from cache instead of being computed. */
  readonly cachedTokens: number;
}

/** One generated token's log-probability and its top alternatives (text already detokenized). */
export interface TokenLogprobData {
  readonly token: number;
  readonly text: string;
  readonly logprob: number;
  readonly top: readonly { readonly token: number; readonly text: string; readonly logprob: number }[];
}

/** tool_calls: the response ended with tool calls (set on the main thread by the tool-call parser). */
export type FinishReason = "stop" | "length" | "tool_calls" | "cancelled" | "error";

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  seed: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  logitBias: [],
};

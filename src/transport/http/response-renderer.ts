// ResponseRenderer: how one OpenAI endpoint spells engine output on the wire (chat vs legacy completions).
// generation-route.ts drives the stream; a renderer only builds objects.

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import type { FinishReasonWire, ToolCallDeltaWire, ToolCallWire } from "../../protocol/openai.js";

export interface ResponseIdentity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** One finished choice of a non-streamed response. */
export interface ChoiceBody {
  readonly text: string;
  readonly logprobs: readonly TokenLogprobData[] | null;
  readonly reason: FinishReasonWire;
  readonly toolCalls: readonly ToolCallWire[];
}

/** Every chunk names its choice (`index`: 0..n-1 when the request asked for n choices). */
export interface ResponseRenderer {
  /** Chunks sent before any text, for each of the n choices (chat sends the assistant role first). */
  openingChunks(n: number, includeUsage: boolean): unknown[];
  deltaChunk(index: number, text: string, logprobs: readonly TokenLogprobData[] | null, offset: number, includeUsage: boolean): unknown;
  /** A piece of a tool call (chat only: the other endpoints never parse calls). */
  toolCallChunk(index: number, call: ToolCallDeltaWire, includeUsage: boolean): unknown;
  finishChunk(index: number, reason: FinishReasonWire, includeUsage: boolean): unknown;
  usageChunk(usage: Usage): unknown;
  body(choices: readonly ChoiceBody[], usage: Usage): unknown;
}

export function tokenBytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

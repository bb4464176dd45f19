// ResponseRenderer: how one OpenAI endpoint spells engine output on the wire (chat vs legacy completions).
// generation-route.ts drives the stream; a renderer only builds objects.

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import type { FinishReasonWire, ToolCallDeltaWire, ToolCallWire } from "../../protocol/openai.js";

export interface ResponseIdentity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

export interface ResponseRenderer {
  /** Chunks sent before any text (chat sends the assistant role first). */
  openingChunks(includeUsage: boolean): unknown[];
  deltaChunk(text: string, logprobs: readonly TokenLogprobData[] | null, offset: number, includeUsage: boolean): unknown;
  /** A piece of a tool call (chat only: the other endpoints never parse calls). */
  toolCallChunk(call: ToolCallDeltaWire, includeUsage: boolean): unknown;
  finishChunk(reason: FinishReasonWire, includeUsage: boolean): unknown;
  usageChunk(usage: Usage): unknown;
  body(text: string, logprobs: readonly TokenLogprobData[] | null, reason: FinishReasonWire, usage: Usage, toolCalls: readonly ToolCallWire[]): unknown;
}

export function tokenBytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

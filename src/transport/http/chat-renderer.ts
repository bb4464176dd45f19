// Chat completion objects (`chat.completion`, `chat.completion.chunk`) from engine output; see the OpenAI contract
// §1.3–1.4: first chunk carries the role, the last choice chunk the finish_reason, include_usage adds `usage: null`
// to every chunk and one usage chunk with empty choices before [DONE].

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import { toWireUsage, type ChatLogprobsWire, type FinishReasonWire, type ToolCallDeltaWire, type ToolCallWire } from "../../protocol/openai.js";
import { tokenBytes, type ResponseIdentity, type ResponseRenderer } from "./response-renderer.js";

export class ChatRenderer implements ResponseRenderer {
  constructor(
    private readonly ident: ResponseIdentity,
    private readonly withLogprobs: boolean,
  ) {}

  openingChunks(includeUsage: boolean): unknown[] {
    return [this.chunk({ role: "assistant", content: "" }, null, null, includeUsage)];
  }

  deltaChunk(text: string, logprobs: readonly TokenLogprobData[] | null, _offset: number, includeUsage: boolean): unknown {
    return this.chunk({ content: text }, this.logprobs(logprobs), null, includeUsage);
  }

  toolCallChunk(call: ToolCallDeltaWire, includeUsage: boolean): unknown {
    return this.chunk({ tool_calls: [call] }, null, null, includeUsage);
  }

  finishChunk(reason: FinishReasonWire, includeUsage: boolean): unknown {
    return this.chunk({}, null, reason, includeUsage);
  }

  usageChunk(usage: Usage): unknown {
    return { id: this.ident.id, object: "chat.completion.chunk", created: this.ident.created, model: this.ident.model, choices: [], usage: toWireUsage(usage) };
  }

  body(text: string, logprobs: readonly TokenLogprobData[] | null, reason: FinishReasonWire, usage: Usage, toolCalls: readonly ToolCallWire[]): unknown {
    const message =
      toolCalls.length === 0
        ? { role: "assistant", content: text, refusal: null }
        : { role: "assistant", content: text === "" ? null : text, refusal: null, tool_calls: toolCalls };
    return {
      id: this.ident.id,
      object: "chat.completion",
      created: this.ident.created,
      model: this.ident.model,
      choices: [{ index: 0, message, logprobs: this.logprobs(logprobs), finish_reason: reason }],
      usage: toWireUsage(usage),
    };
  }

  private chunk(delta: object, logprobs: ChatLogprobsWire | null, reason: FinishReasonWire | null, includeUsage: boolean): unknown {
    return {
      id: this.ident.id,
      object: "chat.completion.chunk",
      created: this.ident.created,
      model: this.ident.model,
      choices: [{ index: 0, delta, logprobs, finish_reason: reason }],
      ...(includeUsage ? { usage: null } : {}),
    };
  }

  private logprobs(lp: readonly TokenLogprobData[] | null): ChatLogprobsWire | null {
    if (!this.withLogprobs) return null;
    const content = (lp ?? []).map((t) => ({
      token: t.text,
      logprob: t.logprob,
      bytes: tokenBytes(t.text),
      top_logprobs: t.top.map((a) => ({ token: a.text, logprob: a.logprob, bytes: tokenBytes(a.text) })),
    }));
    return { content, refusal: null };
  }
}

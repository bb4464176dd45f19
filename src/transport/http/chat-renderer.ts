// Chat completion objects (`chat.completion`, `chat.completion.chunk`) from engine output; see the OpenAI contract
// §1.3–1.4: first chunk carries the role, the last choice chunk the finish_reason, include_usage adds `usage: null`
// to every chunk and one usage chunk with empty choices before [DONE].

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import { toWireUsage, type ChatLogprobsWire, type FinishReasonWire, type ToolCallDeltaWire } from "../../protocol/openai.js";
import { tokenBytes, type ChoiceBody, type ResponseIdentity, type ResponseRenderer } from "./response-renderer.js";

export class ChatRenderer implements ResponseRenderer {
  constructor(
    private readonly ident: ResponseIdentity,
    private readonly withLogprobs: boolean,
  ) {}

  openingChunks(n: number, includeUsage: boolean): unknown[] {
    return Array.from({ length: n }, (_, index) => this.chunk(index, { role: "assistant", content: "" }, null, null, includeUsage));
  }

  deltaChunk(index: number, text: string, logprobs: readonly TokenLogprobData[] | null, _offset: number, includeUsage: boolean): unknown {
    return this.chunk(index, { content: text }, this.logprobs(logprobs), null, includeUsage);
  }

  toolCallChunk(index: number, call: ToolCallDeltaWire, includeUsage: boolean): unknown {
    return this.chunk(index, { tool_calls: [call] }, null, null, includeUsage);
  }

  finishChunk(index: number, reason: FinishReasonWire, includeUsage: boolean): unknown {
    return this.chunk(index, {}, null, reason, includeUsage);
  }

  usageChunk(usage: Usage): unknown {
    return { id: this.ident.id, object: "chat.completion.chunk", created: this.ident.created, model: this.ident.model, choices: [], usage: toWireUsage(usage) };
  }

  body(choices: readonly ChoiceBody[], usage: Usage): unknown {
    return {
      id: this.ident.id,
      object: "chat.completion",
      created: this.ident.created,
      model: this.ident.model,
      choices: choices.map((c, index) => ({ index, message: messageOf(c), logprobs: this.logprobs(c.logprobs), finish_reason: c.reason })),
      usage: toWireUsage(usage),
    };
  }

  private chunk(index: number, delta: object, logprobs: ChatLogprobsWire | null, reason: FinishReasonWire | null, includeUsage: boolean): unknown {
    return {
      id: this.ident.id,
      object: "chat.completion.chunk",
      created: this.ident.created,
      model: this.ident.model,
      choices: [{ index, delta, logprobs, finish_reason: reason }],
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

function messageOf(c: ChoiceBody): object {
  if (c.toolCalls.length === 0) return { role: "assistant", content: c.text, refusal: null };
  return { role: "assistant", content: c.text === "" ? null : c.text, refusal: null, tool_calls: c.toolCalls };
}

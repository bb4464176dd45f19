// Legacy text completion objects (`text_completion` for the body and every chunk alike; OpenAI contract §1.5),
// including the old logprobs shape {tokens, token_logprobs, top_logprobs, text_offset}.

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import { toWireUsage, type CompletionLogprobsWire, type FinishReasonWire } from "../../protocol/openai.js";
import type { ResponseIdentity, ResponseRenderer } from "./response-renderer.js";
import { LoomError } from "../../errors.js";

export class CompletionRenderer implements ResponseRenderer {
  constructor(
    private readonly ident: ResponseIdentity,
    private readonly withLogprobs: boolean,
  ) {}

  openingChunks(): unknown[] {
    return [];
  }

  deltaChunk(text: string, logprobs: readonly TokenLogprobData[] | null, offset: number, includeUsage: boolean): unknown {
    return this.object(text, this.logprobs(logprobs, offset), null, includeUsage ? null : undefined);
  }

  toolCallChunk(): unknown {
    throw new LoomError("internal_error", "a text completion has no tool calls");
  }

  finishChunk(reason: FinishReasonWire, includeUsage: boolean): unknown {
    return this.object("", null, reason, includeUsage ? null : undefined);
  }

  usageChunk(usage: Usage): unknown {
    return { id: this.ident.id, object: "text_completion", created: this.ident.created, model: this.ident.model, choices: [], usage: toWireUsage(usage) };
  }

  body(text: string, logprobs: readonly TokenLogprobData[] | null, reason: FinishReasonWire, usage: Usage): unknown {
    return this.object(text, this.logprobs(logprobs, 0), reason, toWireUsage(usage));
  }

  private object(text: string, logprobs: CompletionLogprobsWire | null, reason: FinishReasonWire | null, usage: unknown): unknown {
    return {
      id: this.ident.id,
      object: "text_completion",
      created: this.ident.created,
      model: this.ident.model,
      choices: [{ index: 0, text, logprobs, finish_reason: reason }],
      ...(usage === undefined ? {} : { usage }),
    };
  }

  private logprobs(lp: readonly TokenLogprobData[] | null, offset: number): CompletionLogprobsWire | null {
    if (!this.withLogprobs) return null;
    const tokens: string[] = [];
    const tokenLogprobs: number[] = [];
    const top: Record<string, number>[] = [];
    const offsets: number[] = [];
    let at = offset;
    for (const t of lp ?? []) {
      tokens.push(t.text);
      tokenLogprobs.push(t.logprob);
      top.push(Object.fromEntries(t.top.map((a) => [a.text, a.logprob])));
      offsets.push(at);
      at += t.text.length;
    }
    return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets };
  }
}

// Legacy text completion objects (`text_completion` for the body and every chunk alike; OpenAI contract §1.5),
// including the old logprobs shape {tokens, token_logprobs, top_logprobs, text_offset}.

import type { TokenLogprobData, Usage } from "../../request/generate-request.js";
import { toWireUsage, type CompletionLogprobsWire, type FinishReasonWire } from "../../protocol/openai.js";
import type { ChoiceBody, ResponseIdentity, ResponseRenderer } from "./response-renderer.js";
import { LoomError } from "../../errors.js";

interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  readonly logprobs: CompletionLogprobsWire | null;
  readonly finish_reason: FinishReasonWire | null;
}

export class CompletionRenderer implements ResponseRenderer {
  constructor(
    private readonly ident: ResponseIdentity,
    private readonly withLogprobs: boolean,
  ) {}

  openingChunks(): unknown[] {
    return [];
  }

  deltaChunk(index: number, text: string, logprobs: readonly TokenLogprobData[] | null, offset: number, includeUsage: boolean): unknown {
    return this.object([{ index, text, logprobs: this.logprobs(logprobs, offset), finish_reason: null }], includeUsage ? null : undefined);
  }

  toolCallChunk(): unknown {
    throw new LoomError("internal_error", "a text completion has no tool calls");
  }

  finishChunk(index: number, reason: FinishReasonWire, includeUsage: boolean): unknown {
    return this.object([{ index, text: "", logprobs: null, finish_reason: reason }], includeUsage ? null : undefined);
  }

  usageChunk(usage: Usage): unknown {
    return { id: this.ident.id, object: "text_completion", created: this.ident.created, model: this.ident.model, choices: [], usage: toWireUsage(usage) };
  }

  body(choices: readonly ChoiceBody[], usage: Usage): unknown {
    const wire = choices.map((c, index) => ({ index, text: c.text, logprobs: this.logprobs(c.logprobs, 0), finish_reason: c.reason }));
    return this.object(wire, toWireUsage(usage));
  }

  private object(choices: readonly CompletionChoice[], usage: unknown): unknown {
    return {
      id: this.ident.id,
      object: "text_completion",
      created: this.ident.created,
      model: this.ident.model,
      choices,
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

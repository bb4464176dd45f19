// PromptBuilder: a request's prompt (chat messages, text or ids) → token ids, next to the model that owns the
// tokenizer. Chat messages are rendered with the model's own Jinja chat template (as llama-server does) and the
// result is tokenized with special-token parsing on, so the template's <s>/</s> text becomes the real tokens.

import { LoomError } from "../errors.js";
import type { ChatMessage, PromptInput, ToolDefinition } from "../request/generate-request.js";
import { chatTemplateOf, renderChat, type ChatTemplate } from "../chat/render-chat.js";
import type { TokenizeInput } from "../request/parse-tokenize-request.js";
import type { ModelBackend } from "./model-backend.js";
import { INLINE_TOKENIZE_CHARS, type TextTokenizer } from "./tokenizer-pool.js";

export { FALLBACK_TEMPLATE } from "../chat/render-chat.js";

export class PromptBuilder {
  private readonly chat: ChatTemplate;

  /** `offThread` tokenizes texts longer than INLINE_TOKENIZE_CHARS; without one (tests) everything runs inline. */
  constructor(
    private readonly backend: ModelBackend,
    private readonly offThread: TextTokenizer | null = null,
  ) {
    this.chat = chatTemplateOf(backend.info.chatTemplate, backend.info.bosText, backend.info.eosText);
  }

  /** Async throughout: every refusal (template, ids, size) is a rejected promise, never a throw at the caller. */
  async build(prompt: PromptInput, tools: readonly ToolDefinition[] = []): Promise<number[]> {
    switch (prompt.kind) {
      case "chat":
        return this.tokenizeText(this.renderChat(prompt.messages, tools), true, true, "messages");
      case "text":
        return this.tokenizeText(prompt.text, false, true, "prompt");
      case "tokens":
        return this.checkIds(prompt.ids);
    }
  }

  /** What build() would produce for this prompt; text may leave out BOS (the Tokenize API's add_special_tokens). */
  async tokenize(input: TokenizeInput): Promise<number[]> {
    if (input.kind === "chat") return this.build(input);
    return this.tokenizeText(input.text, false, input.addSpecialTokens, "prompt");
  }

  /**
   * A text too long for any tokenization to fit the context is refused before it is tokenized (the cost of a
   * tokenization is what such a prompt would otherwise buy); long texts go off the engine thread.
   */
  private async tokenizeText(text: string, special: boolean, addBos: boolean, param: string): Promise<number[]> {
    this.checkCanFit(text, param);
    if (this.offThread === null || text.length <= INLINE_TOKENIZE_CHARS) return this.backend.tokenize(text, special, addBos);
    return this.offThread.tokenize(text, special, addBos);
  }

  /** Every token stands for at most maxTokenBytes bytes, so more bytes than ctx × that is more than ctx tokens. */
  private checkCanFit(text: string, param: string): void {
    const { slotContextSize: ctx, maxTokenBytes } = this.backend.info;
    if (text.length * 3 <= ctx * maxTokenBytes) return; // a UTF-16 unit is ≤ 3 UTF-8 bytes: no need to count them
    const bytes = Buffer.byteLength(text);
    if (bytes <= ctx * maxTokenBytes) return;
    throw new LoomError(
      "context_length_exceeded",
      `This model's maximum context length is ${ctx} tokens per request, and the prompt is ${bytes} bytes: more than ` +
        `${ctx} tokens can hold (its longest token is ${maxTokenBytes} bytes). Please reduce the prompt.`,
      param,
    );
  }

  renderChat(messages: readonly ChatMessage[], tools: readonly ToolDefinition[] = []): string {
    return renderChat(this.chat, messages, tools);
  }

  private checkIds(ids: readonly number[]): number[] {
    const vocab = this.backend.info.vocabSize;
    ids.forEach((id, i) => {
      if (vocab > 0 && id >= vocab) {
        throw new LoomError("invalid_request", `Token id ${id} at prompt[${i}] is outside the vocabulary (size ${vocab}).`, "prompt");
      }
    });
    return [...ids];
  }
}

// PromptBuilder: a request's prompt (chat messages, text or ids) → token ids, next to the model that owns the
// tokenizer. Chat messages are rendered with the model's own Jinja chat template (as llama-server does) and the
// result is tokenized with special-token parsing on, so the template's <s>/</s> text becomes the real tokens.

import { Template } from "@huggingface/jinja";
import { LoomError } from "../errors.js";
import type { ChatMessage, PromptInput } from "../request/generate-request.js";
import type { TokenizeInput } from "../request/parse-tokenize-request.js";
import type { ModelBackend } from "./model-backend.js";

/** Used when a model file has no chat template: a plain, documented role-prefixed format. */
export const FALLBACK_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

export class PromptBuilder {
  private readonly template: Template;

  constructor(private readonly backend: ModelBackend) {
    this.template = new Template(backend.info.chatTemplate ?? FALLBACK_TEMPLATE);
  }

  build(prompt: PromptInput): number[] {
    switch (prompt.kind) {
      case "chat":
        return this.backend.tokenize(this.renderChat(prompt.messages), true);
      case "text":
        return this.backend.tokenize(prompt.text, false);
      case "tokens":
        return this.checkIds(prompt.ids);
    }
  }

  /** What build() would produce for this prompt; text may leave out BOS (the Tokenize API's add_special_tokens). */
  tokenize(input: TokenizeInput): number[] {
    if (input.kind === "chat") return this.build(input);
    return this.backend.tokenize(input.text, false, input.addSpecialTokens);
  }

  renderChat(messages: readonly ChatMessage[]): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: m.content })),
        add_generation_prompt: true,
        bos_token: this.backend.info.bosText,
        eos_token: this.backend.info.eosText,
      });
    } catch (err) {
      // Templates may raise_exception() on role orders they do not support: that is the client's 400.
      const why = err instanceof Error ? err.message : String(err);
      throw new LoomError("invalid_request", `The model's chat template rejected these messages: ${why}`, "messages");
    }
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

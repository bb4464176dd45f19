// A model's chat template, ready to render: its Jinja source (or Loom's plain fallback), how the model writes tool
// calls, and its BOS/EOS text. One render for both sides: the engine's prompt builder tokenizes what it renders, the
// router (main process) tokenizes the same text to find which engine already holds its prefix.

import { Template } from "@huggingface/jinja";
import { LoomError } from "../errors.js";
import type { ChatMessage, ToolDefinition } from "../request/generate-request.js";
import { templateInput } from "./tool-prompt.js";
import { toolSyntaxOf, type ToolSyntax } from "./tool-syntax.js";

/** Used when a model file has no chat template: a plain, documented role-prefixed format. */
export const FALLBACK_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

export interface ChatTemplate {
  readonly template: Template;
  readonly syntax: ToolSyntax;
  readonly bosText: string;
  readonly eosText: string;
}

export function chatTemplateOf(source: string | null, bosText: string, eosText: string): ChatTemplate {
  return { template: new Template(source ?? FALLBACK_TEMPLATE), syntax: toolSyntaxOf(source), bosText, eosText };
}

/** The prompt text of these messages (and tools), with the generation prompt; a template's refusal is a 400. */
export function renderChat(t: ChatTemplate, messages: readonly ChatMessage[], tools: readonly ToolDefinition[] = []): string {
  try {
    return t.template.render({ ...templateInput(messages, tools, t.syntax), add_generation_prompt: true, bos_token: t.bosText, eos_token: t.eosText });
  } catch (err) {
    // Templates may raise_exception() on role orders they do not support: that is the client's 400.
    const why = err instanceof Error ? err.message : String(err);
    throw new LoomError("invalid_request", `The model's chat template rejected these messages: ${why}`, "messages");
  }
}

// The tool-call parser a response needs, if any: requests offering tools (tool_choice not "none") on a model whose
// template is known. Call ids look like OpenAI's ("call_" + 24 random characters): unique, opaque to clients.

import { randomBytes } from "node:crypto";
import type { GenerateRequestFields } from "../request/generate-request.js";
import { ToolCallParser } from "./tool-call-parser.js";
import { toolSyntaxOf } from "./tool-syntax.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function newToolCallId(): string {
  const bytes = randomBytes(24);
  let id = "call_";
  for (const b of bytes) id += ALPHABET[b % ALPHABET.length];
  return id;
}

export function toolCallParserFor(request: GenerateRequestFields, model: { readonly chatTemplate: string | null } | null): ToolCallParser | null {
  const { tools, toolChoice } = request.output;
  if (tools.length === 0 || toolChoice.kind === "none" || request.prompt.kind !== "chat") return null;
  return new ToolCallParser(toolSyntaxOf(model?.chatTemplate ?? null), newToolCallId);
}

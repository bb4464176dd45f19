// The routing tokenizer's task (a piscina thread in the main process, off the event loop): a prompt → the first
// ROUTE_KEY_TOKENS token ids it will have in the engine, computed with @huggingface/tokenizers from the model file's
// own vocabulary (hf-tokenizer-json.ts) and chat template, as the engine's prompt builder renders and tokenizes it.
// Per model file the vocabulary is read once; a model whose vocabulary is not supported gives null (not routable).

import { Tokenizer } from "@huggingface/tokenizers";
import { chatTemplateOf, renderChat, type ChatTemplate } from "../chat/render-chat.js";
import type { PromptInput, ToolDefinition } from "../request/generate-request.js";
import { readModelVocabulary } from "../runtime/llama-backend.js";
import { hfTokenizerJson } from "./hf-tokenizer-json.js";

/** Routing looks at this much of a prompt: enough to tell shared system prompts and conversations apart. */
export const ROUTE_KEY_TOKENS = 2048;
/**
 * Characters of text tokenized for the key: about ROUTE_KEY_TOKENS tokens of prose. The JS SentencePiece tokenizer
 * costs ~8.5 ms per 1,000 characters here (Llama-3 BPE ~0.5 ms): 8k characters bound a key to ~80 ms.
 */
const ROUTE_KEY_CHARS = 8 * 1024;

export interface RouteKeyTask {
  readonly modelPath: string;
  readonly prompt: PromptInput;
  readonly tools: readonly ToolDefinition[];
}

interface ModelTokenizer {
  readonly tokenizer: Tokenizer;
  readonly chat: ChatTemplate;
  readonly bos: number | null;
}

const models = new Map<string, Promise<ModelTokenizer | null>>();

async function load(modelPath: string): Promise<ModelTokenizer | null> {
  const info = await readModelVocabulary(modelPath);
  const json = hfTokenizerJson(info.vocabulary);
  if (json === null) return null;
  const text = (id: number | null): string => (id === null ? "" : (info.vocabulary.tokens[id] ?? ""));
  return {
    tokenizer: new Tokenizer(json, { add_bos_token: false, add_eos_token: false }),
    chat: chatTemplateOf(info.chatTemplate, text(info.bosId), text(info.eosId)),
    bos: info.addBos ? info.bosId : null,
  };
}

export default async function routeKey(task: RouteKeyTask): Promise<Uint32Array | null> {
  let model = models.get(task.modelPath);
  if (model === undefined) {
    model = load(task.modelPath).catch(() => null);
    models.set(task.modelPath, model);
  }
  const m = await model;
  if (m === null) return null;
  const p = task.prompt;
  if (p.kind === "tokens") return Uint32Array.from(p.ids.slice(0, ROUTE_KEY_TOKENS));
  // Chat: the rendered template, its special-token text parsed as the engine parses it; text: plain, BOS first.
  const text = p.kind === "chat" ? renderChat(m.chat, p.messages, task.tools) : p.text;
  const ids = m.tokenizer.encode(text.slice(0, ROUTE_KEY_CHARS), { add_special_tokens: false }).ids;
  const withBos = p.kind === "text" && m.bos !== null ? [m.bos, ...ids] : ids;
  return Uint32Array.from(withBos.slice(0, ROUTE_KEY_TOKENS));
}

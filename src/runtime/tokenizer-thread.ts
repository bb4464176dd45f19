// The off-thread tokenizer's task (a piscina worker beside one engine worker): the model's vocabulary loaded alone
// (vocab-only, no weights), tokenizing exactly as the engine's own model does. Long prompts come here so the engine
// thread keeps stepping while they are tokenized.

import { Piscina } from "piscina";
import { loadVocabTokenizer } from "./llama-backend.js";

export interface TokenizerThreadData {
  readonly modelPath: string;
  readonly nativeBuild: "auto" | "never";
}

export type TokenizerTask =
  { readonly kind: "tokenize"; readonly text: string; readonly special: boolean; readonly addBos: boolean } | { readonly kind: "dispose" };

const data = Piscina.workerData as TokenizerThreadData;
const vocab = loadVocabTokenizer(data.modelPath, data.nativeBuild);
// A load failure is reported by the first task that awaits it; it must not also be an unhandled rejection here.
vocab.catch(() => {});

export default async function run(task: TokenizerTask): Promise<Uint32Array | null> {
  const tokenizer = await vocab;
  if (task.kind === "dispose") {
    await tokenizer.dispose();
    return null;
  }
  return Uint32Array.from(tokenizer.tokenize(task.text, task.special, task.addBos));
}

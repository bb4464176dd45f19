// Checks texts against a GBNF grammar with llama.cpp's own grammar engine (node-llama-cpp's binding, no model):
// the converter's unit tests assert what the real parser accepts, not what a test re-implementation thinks.

import { getLlama, type Llama } from "node-llama-cpp";

let llama: Promise<Llama> | null = null;

function binding(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, maxThreads: 1, progressLogs: false, build: "never", usePrebuiltBinaries: true, skipDownload: true });
  return llama;
}

export type Matcher = (text: string) => boolean;

/** A matcher for complete texts; rejects when llama.cpp cannot parse the grammar. */
export async function gbnfMatcher(grammar: string): Promise<Matcher> {
  const l = await binding();
  const g = await l.createGrammar({ grammar });
  const internal = g as unknown as { _testText(text: string): boolean };
  return (text) => internal._testText(text);
}

// The engine's tokenizer cuts long texts after special tokens (src/runtime/special-token-cuts.ts) to stay linear:
// checked here against llama.cpp's own whole-text tokenization on both real vocabularies Loom ships models with
// (SentencePiece llama-spm, byte-level BPE llama-bpe with 256 special tokens), special parsing on and off.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";
import { ensureVocabFile, type VocabName } from "../../models/vocab-source.js";
import { loadVocabTokenizer, type VocabTokenizer } from "../../src/runtime/llama-backend.js";

interface Loaded {
  readonly model: LlamaModel;
  readonly cut: VocabTokenizer;
  readonly specials: string[];
}

let llama: Llama;
const loaded = new Map<VocabName, Loaded>();

beforeAll(async () => {
  llama = await getLlama({ build: "never", usePrebuiltBinaries: true, skipDownload: true, gpu: false, maxThreads: 1, progressLogs: false });
  for (const name of ["llama-spm", "llama-bpe"] as const) {
    const path = await ensureVocabFile(name);
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    const ggml = model.fileInfo.metadata.tokenizer.ggml as unknown as { tokens: string[]; token_type: number[] };
    const specials = ggml.tokens.filter((_, i) => [2, 3, 4].includes(ggml.token_type[i] ?? 1));
    loaded.set(name, { model, cut: await loadVocabTokenizer(path, "never"), specials });
  }
});

afterAll(async () => {
  for (const l of loaded.values()) {
    await l.cut.dispose();
    await l.model.dispose();
  }
  await llama?.dispose();
});

function cases(specials: readonly string[]): string[] {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const words = ["hello", " world", "\n", "  ", "user", "assistant", ":", "<", ">", "|", "😀", "é", "\t", "x", "s>", "</"];
  const out = [
    specials.slice(0, 3).join("").repeat(6_000),
    Array.from({ length: 1_500 }, (_, i) => `${specials[1] ?? ""}[INST] message ${i} with some text [/INST] reply ${i} ${specials[2] ?? ""}`).join(""),
  ];
  for (let c = 0; c < 24; c++) {
    let t = "";
    while (t.length < 12_000) t += rnd() < 0.3 ? specials[Math.floor(rnd() * Math.min(specials.length, 8))] : words[Math.floor(rnd() * words.length)];
    out.push(t);
  }
  return out;
}

describe.each(["llama-spm", "llama-bpe"] as const)("cut tokenization on %s", (name) => {
  it("gives exactly llama.cpp's whole-text ids, special parsing on and off", () => {
    const { model, cut, specials } = loaded.get(name) as Loaded;
    for (const text of cases(specials)) {
      for (const special of [true, false]) {
        expect(cut.tokenize(text, special, false)).toEqual(Array.from(model.tokenize(text, special)));
      }
    }
  });
});

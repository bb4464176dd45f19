// A Hugging Face tokenizer.json built from a GGUF file's own vocabulary, so the main process can compute the token
// ids a prompt will have (for cache-aware routing) with @huggingface/tokenizers, without loading llama.cpp or the
// weights. Two vocabularies are supported, each as llama.cpp tokenizes it (test/integration/routing-tokenizer.test.ts
// checks the ids against llama.cpp's on a corpus):
// - LLaMA SentencePiece (`llama`): BPE with byte fallback, merges derived from the scores (every split of a token
//   into two vocabulary pieces, ranked by the merged token's score, as SentencePiece merges), "▁" for spaces and one
//   in front of each text run (llama.cpp adds it at the start and after each special token);
// - Llama-3 BPE (`gpt2` with pre-tokenizer `llama-bpe`): byte-level BPE with the file's merges and Llama-3's split.
// Special and control tokens are added tokens, so their text in a prompt becomes the token (special parsing on, as
// the engine tokenizes rendered chat templates). Anything else: null (not routable: routing falls back to load).

import type { GgufVocabulary } from "../runtime/llama-backend.js";

/** Llama-3's pre-tokenizer split (llama.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3). */
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CONTROL = 3;
const USER_DEFINED = 4;
const NORMAL = 1;

export function hfTokenizerJson(v: GgufVocabulary): Record<string, unknown> | null {
  const vocab: Record<string, number> = {};
  v.tokens.forEach((tok, id) => {
    if (!(tok in vocab)) vocab[tok] = id;
  });
  const added = v.tokens.flatMap((content, id) => {
    const type = v.tokenTypes?.[id] ?? NORMAL;
    return type === CONTROL || type === USER_DEFINED
      ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }]
      : [];
  });
  if (v.model === "llama" && v.scores !== null) return sentencePiece(v, vocab, added);
  if (v.model === "gpt2" && v.merges !== null && (v.pre === "llama-bpe" || v.pre === "llama3")) return llama3Bpe(v.merges, vocab, added);
  return null;
}

function sentencePiece(v: GgufVocabulary, vocab: Record<string, number>, added: object[]): Record<string, unknown> {
  const scores = v.scores as readonly number[];
  const merges: { score: number; id: number; left: number; text: string }[] = [];
  v.tokens.forEach((tok, id) => {
    if ((v.tokenTypes?.[id] ?? NORMAL) !== NORMAL) return;
    const chars = [...tok];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join("");
      const b = chars.slice(k).join("");
      const left = vocab[a];
      if (left !== undefined && b in vocab) merges.push({ score: scores[id] ?? 0, id, left, text: `${a} ${b}` });
    }
  });
  merges.sort((x, y) => y.score - x.score || x.id - y.id || x.left - y.left);
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => m.text),
    },
  };
}

function llama3Bpe(merges: readonly string[], vocab: Record<string, number>, added: object[]): Record<string, unknown> {
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: null,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

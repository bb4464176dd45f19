// The routing tokenizer (main process, @huggingface/tokenizers built from the GGUF vocabulary) gives exactly the
// token ids llama.cpp gives, on a corpus of unicode, code, whitespace runs and special-token text, for both
// vocabularies Loom ships (LLaMA SentencePiece and Llama-3 BPE); and a chat or text prompt's routing key equals the
// start of what the engine itself tokenizes for it (its /tokenize answer), template and BOS included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { defaultModelPath, makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { loadLlamaBackend, readModelVocabulary, type LlamaBackend } from "../../src/runtime/llama-backend.js";
import { hfTokenizerJson } from "../../src/routing/hf-tokenizer-json.js";
import { RouteKeyPool } from "../../src/routing/route-key-pool.js";
import { startHarness, type Harness } from "../support/server-harness.js";

const CORPUS = [
  "Hello world",
  " Hello  world",
  "The quick brown fox jumps over the lazy dog.",
  "naïve café — 日本語のテキスト, 한국어, русский текст 😀🎉👩‍👩‍👧",
  "function f(x) {\n  return x * 2; // double\n}\n",
  "   leading spaces\tand\ttabs\n\n\nnewlines\r\n",
  "<s>special</s> text <|im_start|>user\n<|begin_of_text|><|eot_id|>",
  "12345678901234 3.14159 1e-10 0xDEADBEEF",
  "don't won't I'm we'll THEY'RE",
  "a\u00a0b\u200bc\u2028d",
  "ÀÉÎÕÜ ßẞ ǅ",
  "\t\t\n  \n",
  "x".repeat(300),
  "    ".repeat(40),
  "SELECT * FROM users WHERE id = 42; -- ok",
  "¿Qué? ¡Sí! «quoted» “curly”",
];

const VOCABS = ["llama-spm", "llama-bpe"] as const;
const backends = new Map<string, LlamaBackend>();
const paths = new Map<string, string>();

beforeAll(async () => {
  for (const vocab of VOCABS) {
    const opts = vocab === "llama-spm" ? ({ preset: "tiny" } as const) : ({ preset: "tiny", vocab } as const);
    const path = defaultModelPath(opts);
    if (!existsSync(path)) await makeSyntheticModel(opts);
    paths.set(vocab, path);
    const backend = await loadLlamaBackend({
      modelPath: path,
      slots: 1,
      slotContextSize: 512,
      ubatchSize: 64,
      flashAttn: "auto",
      threads: 1,
      threadsBatch: 1,
      gpu: "cpu",
      gpuLayers: 0,
      nativeBuild: "never",
      log: () => {},
    });
    backends.set(vocab, backend);
  }
}, 120_000);

afterAll(async () => {
  for (const b of backends.values()) await b.dispose();
});

describe.each(VOCABS)("routing tokenizer (%s)", (vocab) => {
  it("gives llama.cpp's ids on the corpus, special-token text parsed as the engine parses it", async () => {
    const info = await readModelVocabulary(paths.get(vocab) as string);
    const json = hfTokenizerJson(info.vocabulary);
    expect(json).not.toBeNull();
    const hf = new Tokenizer(json as object, { add_bos_token: false, add_eos_token: false });
    const backend = backends.get(vocab) as LlamaBackend;
    for (const text of CORPUS) {
      expect(hf.encode(text, { add_special_tokens: false }).ids, JSON.stringify(text)).toEqual(backend.tokenize(text, true, false));
    }
  });
});

describe("routing keys against the engine", () => {
  let h: Harness;
  const pool = new RouteKeyPool();

  beforeAll(async () => {
    h = await startHarness(["--model", `bpe=${paths.get("llama-bpe") as string}`, "--parallel", "2", "--ctx-size", "4096"]);
  });

  afterAll(async () => {
    await pool.close();
    await h?.close();
  });

  it.each(["tiny", "bpe"])("%s: a chat and a text prompt's key is the start of the engine's own tokens", async (model) => {
    const path = model === "tiny" ? (paths.get("llama-spm") as string) : (paths.get("llama-bpe") as string);
    const messages = [
      { role: "system" as const, content: "You are terse." },
      { role: "user" as const, content: "Hi — 日本語 and code: f(x) = x * 2" },
    ];
    const engineIds = async (body: object): Promise<number[]> =>
      ((await (await fetch(`${h.url}/tokenize`, { method: "POST", body: JSON.stringify({ model, ...body }) })).json()) as { tokens: number[] }).tokens;
    const chatKey = await pool.key(path, { kind: "chat", messages }, []);
    expect(chatKey).toEqual(await engineIds({ messages }));
    const textKey = await pool.key(path, { kind: "text", text: "Once upon a time, in 東京" }, []);
    expect(textKey).toEqual(await engineIds({ prompt: "Once upon a time, in 東京" }));
  });
});

// End-to-end check of the default synthetic model: node-llama-cpp loads it, greedy decoding does not
// collapse into a repeated token, and its chat template renders with @huggingface/jinja.
import { Template } from "@huggingface/jinja";
import { type Llama, type LlamaContext, LlamaLogLevel, type LlamaModel, type Token, getLlama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDefaultModel } from "../../models/make-synthetic-model.js";

describe("synthetic tiny model under node-llama-cpp", () => {
  let llama: Llama | undefined;
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;

  beforeAll(async () => {
    const path = await ensureDefaultModel();
    // Explicit single thread everywhere: the default of 4 threads on a 2-core box is ~200x slower.
    llama = await getLlama({ gpu: false, maxThreads: 1, build: "never", logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: path });
    context = await model.createContext({ contextSize: 512, threads: 1 });
  });

  afterAll(async () => {
    await context?.dispose();
    await model?.dispose();
    await llama?.dispose();
  });

  it("greedy-generates 64 tokens without collapsing", async () => {
    if (model === undefined || context === undefined) throw new Error("model not loaded");
    const bos = model.tokens.bos;
    const prompt: Token[] = [...(bos !== null ? [bos] : []), ...model.tokenize("Once upon a time, in a land far away,")];
    const generated: Token[] = [];
    for await (const token of context.getSequence().evaluate(prompt, { temperature: 0 })) {
      generated.push(token);
      if (generated.length >= 64) break;
    }
    expect(generated).toHaveLength(64);
    expect(new Set(generated).size).toBeGreaterThanOrEqual(20);
    expect(typeof model.detokenize(generated)).toBe("string");
  });

  it("carries a chat template that @huggingface/jinja renders", () => {
    if (model === undefined) throw new Error("model not loaded");
    const source = model.fileInfo.metadata.tokenizer.chat_template;
    expect(typeof source).toBe("string");
    const rendered = new Template(String(source)).render({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ],
      bos_token: "<s>",
      eos_token: "</s>",
      add_generation_prompt: true,
    });
    expect(rendered).toBe("<s><|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
  });
});

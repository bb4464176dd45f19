// A prompt that takes long to tokenize must not stall the streams already running on its engine: long texts are
// tokenized on the engine's tokenizer thread (src/runtime/tokenizer-pool.ts), not on the thread that steps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness(["--parallel", "4"]);
});
afterAll(async () => {
  await h?.close();
});

describe("a prompt that is slow to tokenize", () => {
  it("leaves running streams stepping meanwhile, then gets its own answer", async () => {
    const stream = await h.client.completions.create({
      model: TEST_MODEL,
      prompt: "go on",
      max_tokens: 3000,
      stream: true,
      ...({ ignore_eos: true } as object),
    });
    let chunks = 0;
    const reading = (async () => {
      for await (const _c of stream) chunks++;
    })();
    expect(await eventually(async () => chunks >= 5, 10_000)).toBe(true);
    // 45,000 emoji: llama.cpp's SentencePiece tokenizer is super-linear on them (~0.5 s alone here), and the result
    // is far over the context, so it ends as a 400 once tokenized.
    const before = chunks;
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: TEST_MODEL, messages: [{ role: "user", content: "😀".repeat(45_000) }], max_tokens: 1 }),
    });
    const during = chunks - before;
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
    // Inline on the stepping thread this was 0: no step ran until the tokenization returned.
    expect(during).toBeGreaterThanOrEqual(10);
    stream.controller.abort();
    await reading.catch(() => {});
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
  });
});

// The OpenAI-compatible HTTP API through the official `openai` SDK against a real server with the tiny model.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

const hello = [{ role: "user" as const, content: "Hello, who are you?" }];

describe("chat completions", () => {
  it("returns a non-stream completion with usage", async () => {
    const res = await h.client.chat.completions.create({ model: TEST_MODEL, messages: hello, max_tokens: 12, seed: 1 });
    expect(res.object).toBe("chat.completion");
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]?.message.role).toBe("assistant");
    expect(res.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(res.choices[0]?.finish_reason).toBe("length");
    expect(res.usage?.completion_tokens).toBe(12);
    expect(res.usage?.prompt_tokens).toBeGreaterThan(5);
    expect(res.usage?.total_tokens).toBe((res.usage?.prompt_tokens ?? 0) + 12);
  });

  it("streams chunks whose concatenation equals the non-stream text, with usage last", async () => {
    const params = { model: TEST_MODEL, messages: hello, max_tokens: 24, seed: 7, temperature: 0.8 };
    const whole = await h.client.chat.completions.create(params);
    const stream = await h.client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("chat.completion.chunk");
      const choice = chunk.choices[0];
      if (choice !== undefined) {
        text += choice.delta.content ?? "";
        finish = choice.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(5);
    expect(text).toBe(whole.choices[0]?.message.content);
    expect(finish).toBe("length");
    expect(usage?.completion_tokens).toBe(24);
  });

  it("gives identical text for identical seeded requests, and different text for another seed", async () => {
    const params = { model: TEST_MODEL, messages: hello, max_tokens: 20, seed: 42, temperature: 1 };
    const a = await h.client.chat.completions.create(params);
    const b = await h.client.chat.completions.create(params);
    const c = await h.client.chat.completions.create({ ...params, seed: 43 });
    expect(a.choices[0]?.message.content).toBe(b.choices[0]?.message.content);
    expect(c.choices[0]?.message.content).not.toBe(a.choices[0]?.message.content);
  });

  it("stops on a stop string taken from the unstopped output, and excludes it", async () => {
    const params = { model: TEST_MODEL, messages: hello, max_tokens: 30, temperature: 0 };
    const full = (await h.client.chat.completions.create(params)).choices[0]?.message.content ?? "";
    const stopAt = full.slice(10, 14);
    expect(stopAt.length).toBe(4);
    const cut = await h.client.chat.completions.create({ ...params, stop: [stopAt] });
    expect(cut.choices[0]?.finish_reason).toBe("stop");
    expect(cut.choices[0]?.message.content).toBe(full.slice(0, full.indexOf(stopAt)));
    const streamed = await h.client.chat.completions.create({ ...params, stop: stopAt, stream: true });
    let text = "";
    for await (const chunk of streamed) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(full.slice(0, full.indexOf(stopAt)));
  });

  it("honours max_completion_tokens and ignore_eos/min_tokens extensions", async () => {
    const res = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: hello,
      max_completion_tokens: 40,
      // @ts-expect-error vLLM-style extensions are top-level body fields
      ignore_eos: true,
      min_tokens: 10,
    });
    expect(res.usage?.completion_tokens).toBe(40);
    expect(res.choices[0]?.finish_reason).toBe("length");
  });

  it("returns logprob tokens that concatenate to the content (word-start tokens keep their leading space)", async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const chat = await h.client.chat.completions.create({ model: TEST_MODEL, messages: hello, max_tokens: 24, logprobs: true, top_logprobs: 1, seed });
      const choice = chat.choices[0];
      expect((choice?.logprobs?.content ?? []).map((t) => t.token).join("")).toBe(choice?.message.content);
      const legacy = await h.client.completions.create({ model: TEST_MODEL, prompt: "Once upon a time", max_tokens: 24, logprobs: 1, seed });
      expect(legacy.choices[0]?.logprobs?.tokens?.join("")).toBe(legacy.choices[0]?.text);
    }
  });

  it("returns logprobs with top alternatives", async () => {
    const res = await h.client.chat.completions.create({ model: TEST_MODEL, messages: hello, max_tokens: 4, logprobs: true, top_logprobs: 3, temperature: 0 });
    const content = res.choices[0]?.logprobs?.content ?? [];
    expect(content).toHaveLength(4);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(3);
      // Greedy: the chosen token is the most likely one.
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0]?.logprob ?? NaN, 4);
    }
  });
});

describe("KV reuse across requests", () => {
  it("reuses the shared prefix of a follow-up turn and reports it as cached tokens", async () => {
    const turn1 = [{ role: "system" as const, content: "You are a terse assistant who answers in one line." }, ...hello];
    const first = await h.client.chat.completions.create({ model: TEST_MODEL, messages: turn1, max_tokens: 6, temperature: 0 });
    const turn2 = [...turn1, { role: "assistant" as const, content: first.choices[0]?.message.content ?? "" }, { role: "user" as const, content: "And then?" }];
    const second = await h.client.chat.completions.create({ model: TEST_MODEL, messages: turn2, max_tokens: 6, temperature: 0 });
    const cached = second.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    // Everything up to the assistant header is shared (the text after it may re-tokenize differently).
    expect(cached).toBeGreaterThanOrEqual((first.usage?.prompt_tokens ?? Infinity) - 2);
    expect(cached).toBeLessThan(second.usage?.prompt_tokens ?? 0);
  });
});

describe("legacy completions", () => {
  it("completes text, streams, and accepts token-id prompts", async () => {
    const res = await h.client.completions.create({ model: TEST_MODEL, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
    expect(res.object).toBe("text_completion");
    expect(res.usage?.completion_tokens).toBe(8);
    const stream = await h.client.completions.create({ model: TEST_MODEL, prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(res.choices[0]?.text);
    const ids = await h.client.completions.create({ model: TEST_MODEL, prompt: [1, 450, 1701], max_tokens: 3, logprobs: 2 });
    expect(ids.usage?.prompt_tokens).toBe(3);
    expect(ids.choices[0]?.logprobs?.tokens).toHaveLength(3);
  });
});

describe("models and health", () => {
  it("lists and gets models, 404s unknown ones", async () => {
    const list = await h.client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([TEST_MODEL]);
    const one = await h.client.models.retrieve(TEST_MODEL);
    expect(one.id).toBe(TEST_MODEL);
    await expect(h.client.models.retrieve("nope")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("answers /health and /ready, and sends x-request-id", async () => {
    const health = await fetch(`${h.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("x-request-id")).toBeTruthy();
    const ready = await fetch(`${h.url}/ready`, { headers: { "x-request-id": "abc-123" } });
    expect(ready.status).toBe(200);
    expect(ready.headers.get("x-request-id")).toBe("abc-123");
  });
});

// `n` > 1 through a real server, the official OpenAI SDK and a grpc-js client: n choices with index 0..n-1 on chat and
// legacy completions, streamed (each chunk names its choice, each choice finishes, one usage chunk) and not; the
// prompt is computed once and counted once in usage; each choice has its own seeded stream (a seed reproduces all n,
// greedy choices are identical); tools per choice; one 429 for all when the queue cannot take n; and a client that
// leaves mid-stream frees every choice's slot.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness(["--parallel", "4", "--ctx-size", String(4 * 2048), "--max-queue", "4"]);
});

afterAll(async () => {
  await h?.close();
});

const messages = [{ role: "user" as const, content: "Write a short line about the sea." }];

async function cachedTokensTotal(): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`loom_prompt_cached_tokens_total{model="${TEST_MODEL}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("n choices over HTTP", () => {
  it("chat: n choices indexed 0..n-1, the prompt computed once and counted once, completions summed", async () => {
    const cachedBefore = await cachedTokensTotal();
    const r = await h.client.chat.completions.create({ model: TEST_MODEL, messages, n: 3, max_tokens: 8, temperature: 1, seed: 11 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    for (const c of r.choices) expect(c.finish_reason).toBe("length");
    const single = await h.client.chat.completions.create({ model: TEST_MODEL, messages, max_tokens: 8, temperature: 1, seed: 11 });
    expect(r.usage?.prompt_tokens).toBe(single.usage?.prompt_tokens);
    expect(r.usage?.completion_tokens).toBe(24);
    // Choice 0 is the single request with the same seed; the others have their own streams.
    expect(r.choices[0]?.message.content).toBe(single.choices[0]?.message.content);
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBeGreaterThan(1);
    // Two of the three found the prompt in KV (copied from the first, all but its last token).
    const prompt = r.usage?.prompt_tokens ?? 0;
    expect((await cachedTokensTotal()) - cachedBefore).toBeGreaterThanOrEqual(2 * (prompt - 1));
  });

  it("the same seed reproduces every choice; greedy choices are identical", async () => {
    const ask = (temperature: number) => h.client.chat.completions.create({ model: TEST_MODEL, messages, n: 3, max_tokens: 8, temperature, seed: 5 });
    const [a, b] = [await ask(0.9), await ask(0.9)];
    expect(a.choices.map((c) => c.message.content)).toEqual(b.choices.map((c) => c.message.content));
    const greedy = await ask(0);
    expect(new Set(greedy.choices.map((c) => c.message.content)).size).toBe(1);
  });

  it("chat streaming: chunks name their choice; each choice gets its role, text and finish; one usage chunk at the end", async () => {
    const stream = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages,
      n: 3,
      max_tokens: 6,
      temperature: 1,
      seed: 21,
      stream: true,
      stream_options: { include_usage: true },
    });
    const texts = ["", "", ""];
    const roles: number[] = [];
    const finishes: number[] = [];
    let usageChunks = 0;
    let total: number | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) {
        usageChunks++;
        total = chunk.usage.completion_tokens;
        expect(chunk.choices).toEqual([]);
      }
      for (const c of chunk.choices) {
        if (c.delta.role === "assistant") roles.push(c.index);
        texts[c.index] += c.delta.content ?? "";
        if (c.finish_reason !== null) finishes.push(c.index);
      }
    }
    expect(roles.sort()).toEqual([0, 1, 2]);
    expect(finishes.sort()).toEqual([0, 1, 2]);
    expect([usageChunks, total]).toEqual([1, 18]);
    const whole = await h.client.chat.completions.create({ model: TEST_MODEL, messages, n: 3, max_tokens: 6, temperature: 1, seed: 21 });
    expect(texts).toEqual(whole.choices.map((c) => c.message.content));
  });

  it("legacy completions: n choices with their own logprobs, streamed and not", async () => {
    const body = { model: TEST_MODEL, prompt: "The harbour at dawn", n: 2, max_tokens: 5, temperature: 1, seed: 3, logprobs: 1 };
    const r = await h.client.completions.create(body);
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of r.choices) expect(c.logprobs?.tokens?.join("")).toBe(c.text);
    const texts = ["", ""];
    for await (const chunk of await h.client.completions.create({ ...body, stream: true })) {
      for (const c of chunk.choices) texts[c.index] += c.text;
    }
    expect(texts).toEqual(r.choices.map((c) => c.text));
  });

  it("required tool calls come back in every choice", async () => {
    const tools = [
      {
        type: "function" as const,
        function: { name: "pick", parameters: { type: "object", properties: { n: { type: "integer", minimum: 0, maximum: 9 } }, required: ["n"] } },
      },
    ];
    const r = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages,
      n: 2,
      tools,
      tool_choice: "required",
      parallel_tool_calls: false,
      seed: 9,
    });
    expect(r.choices.map((c) => c.finish_reason)).toEqual(["tool_calls", "tool_calls"]);
    for (const c of r.choices) {
      const call = c.message.tool_calls?.[0];
      expect(call?.type === "function" ? JSON.parse(call.function.arguments) : null).toHaveProperty("n");
    }
  });

  it("a queue without room for all n is one 429, and nothing of the request runs", async () => {
    // 4 slots + 4 queued: n = 9 cannot fit.
    await expect(h.client.chat.completions.create({ model: TEST_MODEL, messages, n: 9, max_tokens: 2 })).rejects.toMatchObject({ status: 429 });
    expect(await busySlots(h.url)).toBe(0);
  });

  it("a client that leaves mid-stream frees every choice's slot", async () => {
    const stream = await h.client.chat.completions.create({ model: TEST_MODEL, messages, n: 4, max_tokens: 2000, temperature: 1, stream: true });
    let chunks = 0;
    for await (const _ of stream) if (++chunks >= 8) break;
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
  });
});

type Msg = Record<string, unknown>;
interface GenerationClient extends Client {
  Generate: (req: Msg, meta?: Metadata) => ClientReadableStream<Msg>;
}

describe("n choices over gRPC", () => {
  it("Generate with n: every message names its choice and each choice ends with its own finished message", async () => {
    const c = generationClient<GenerationClient>(h.server.grpcPort as number);
    const messages: Msg[] = await new Promise((resolve, reject) => {
      const out: Msg[] = [];
      const call = c.Generate({ model: TEST_MODEL, text: "The harbour at dawn", n: 3, sampling: { temperature: 1, seed: 3 }, stopping: { max_tokens: 5 } });
      call.on("data", (m: Msg) => out.push(m));
      call.on("error", (e: ServiceError) => reject(e));
      call.on("end", () => resolve(out));
    });
    const texts = ["", "", ""];
    const finished: number[] = [];
    for (const m of messages) {
      const index = m["index"] as number;
      texts[index] += ((m["delta"] as Msg | undefined)?.["text"] as string | undefined) ?? "";
      if (m["finished"] !== undefined && m["finished"] !== null) finished.push(index);
    }
    expect(finished.sort()).toEqual([0, 1, 2]);
    const http = await h.client.completions.create({ model: TEST_MODEL, prompt: "The harbour at dawn", n: 3, max_tokens: 5, temperature: 1, seed: 3 });
    expect(texts).toEqual(http.choices.map((x) => x.text));
    c.close();
  });
});

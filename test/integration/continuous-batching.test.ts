// Continuous batching against a real server: concurrent streams interleave, a short request started after a long
// one finishes first, a disconnect frees its slot, and a request's seeded random stream is its own.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busySlots, engineStatus, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

const prompt = (i: number) => [{ role: "user" as const, content: `Request number ${i}: tell me a story.` }];
const noEos = { ignore_eos: true } as Record<string, unknown>;

interface StreamLog {
  readonly id: number;
  readonly chunkTimes: number[];
  finishedAt: number;
  tokens: number;
}

async function runStream(id: number, maxTokens: number, log: StreamLog[]): Promise<StreamLog> {
  const entry: StreamLog = { id, chunkTimes: [], finishedAt: 0, tokens: 0 };
  log.push(entry);
  const stream = await h.client.chat.completions.create({
    model: TEST_MODEL,
    messages: prompt(id),
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    ...noEos,
  });
  for await (const chunk of stream) {
    entry.chunkTimes.push(performance.now());
    if (chunk.usage) entry.tokens = chunk.usage.completion_tokens;
  }
  entry.finishedAt = performance.now();
  return entry;
}

describe("continuous batching", () => {
  it("runs 16 concurrent streams interleaved, each to its own length", async () => {
    const log: StreamLog[] = [];
    const lengths = Array.from({ length: 16 }, (_, i) => 40 + i * 10);
    const done = await Promise.all(lengths.map((n, i) => runStream(i, n, log)));
    done.forEach((d, i) => expect(d.tokens).toBe(lengths[i]));
    // Interleaving: every stream was producing tokens before the first one finished (all 16 ran at once), and
    // together they had streamed well over one stream's worth by then.
    const firstFinish = Math.min(...done.map((d) => d.finishedAt));
    for (const d of done) expect(d.chunkTimes.filter((t) => t < firstFinish).length).toBeGreaterThan(0);
    const before = done.reduce((n, d) => n + d.chunkTimes.filter((t) => t < firstFinish).length, 0);
    expect(before).toBeGreaterThan(4 * (lengths[0] ?? 0));
    // Shorter requests finish earlier: finish order follows max_tokens (lengths are 10 tokens apart).
    const order = [...done].sort((a, b) => a.finishedAt - b.finishedAt).map((d) => d.id);
    expect(order.slice(0, 4).every((id) => id < 8)).toBe(true);
  });

  it("lets a short request started after a long one finish first", async () => {
    const log: StreamLog[] = [];
    const long = runStream(100, 3000, log);
    await eventually(async () => (log[0]?.chunkTimes.length ?? 0) > 3, 10_000);
    const short = await runStream(101, 8, log);
    const longStillRunning = (log[0]?.finishedAt ?? 0) === 0;
    expect(short.tokens).toBe(8);
    expect(longStillRunning).toBe(true);
    const longDone = await long;
    expect(longDone.tokens).toBe(3000);
    expect(longDone.finishedAt).toBeGreaterThan(short.finishedAt);
  });

  it("frees the slot when the client disconnects mid-stream, and keeps serving", async () => {
    const stream = await h.client.chat.completions.create({ model: TEST_MODEL, messages: prompt(200), max_tokens: 4000, stream: true, ...noEos });
    let seen = 0;
    for await (const _chunk of stream) {
      if (++seen === 5) break; // the SDK aborts the HTTP request on break
    }
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 5_000)).toBe(true);
    const status = await engineStatus(h.url);
    expect(status.models[0]?.workers[0]?.stats?.running).toBe(0);
    const next = await h.client.chat.completions.create({ model: TEST_MODEL, messages: prompt(201), max_tokens: 5 });
    expect(next.usage?.completion_tokens).toBe(5);
  });

  it("gives each request its own seeded random stream: identical seeded requests in one batch agree", async () => {
    const params = { model: TEST_MODEL, messages: prompt(300), max_tokens: 30, temperature: 1, seed: 1234 };
    // Neighbours with other seeds run in the same steps; a shared RNG would make the two seeded twins diverge.
    const noise = [1, 2, 3, 4].map((s) => h.client.chat.completions.create({ ...params, seed: s, messages: prompt(300 + s) }));
    const [a, b] = await Promise.all([h.client.chat.completions.create(params), h.client.chat.completions.create(params)]);
    await Promise.all(noise);
    expect(a?.choices[0]?.message.content).toBe(b?.choices[0]?.message.content);
  });
});

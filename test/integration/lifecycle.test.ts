// Request deadlines and graceful shutdown against a real server.

import { afterAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

const open: Harness[] = [];
afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
});

async function harness(flags: string[]): Promise<Harness> {
  const h = await startHarness(flags);
  open.push(h);
  return h;
}

const long = {
  model: TEST_MODEL,
  messages: [{ role: "user" as const, content: "go on" }],
  max_tokens: 4000,
  ...({ ignore_eos: true } as Record<string, unknown>),
};

describe("deadlines", () => {
  it("ends an overdue request with 504 (or an error event mid-stream) and frees its slot", async () => {
    const h = await harness(["--timeout", "0.4"]);
    const err = await h.client.chat.completions.create(long).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("deadline_exceeded");

    const stream = await h.client.chat.completions.create({ ...long, stream: true });
    let chunks = 0;
    const failure = await (async () => {
      for await (const _c of stream) chunks++;
    })().catch((e: unknown) => e);
    expect(chunks).toBeGreaterThan(1);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(String((failure as Error).message)).toMatch(/deadline/);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
  });
});

describe("graceful shutdown", () => {
  it("lets in-flight streams finish, refuses new work with 503, then stops", async () => {
    const h = await harness([]);
    const stream = await h.client.chat.completions.create({ ...long, max_tokens: 400, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const closing = h.server.close(30_000);
    const refused = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...long, max_tokens: 2 }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await fetch(`${h.url}/ready`)).status).toBe(503);
    let finish: string | null | undefined;
    for (let r = await it.next(); r.done !== true; r = await it.next()) finish = r.value.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe("length");
    await closing;
    await expect(fetch(`${h.url}/health`)).rejects.toThrow();
  });
});

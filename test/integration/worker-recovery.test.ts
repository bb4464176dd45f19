// --engine-isolation thread: a crashed engine worker thread fails only its own requests (500 engine_failure), the
// other worker keeps streaming, and the dead one is restarted. The exit is injected with LOOM_FAULT_INJECTION (read
// by the engine unit only). Engine processes, the default, are tested in engine-isolation.test.ts.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { engineStatus, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

const MARKER = "crash-this-worker-7f3a";
let h: Harness;

beforeAll(async () => {
  process.env.LOOM_FAULT_INJECTION = `exit-on-prompt:${MARKER}`;
  h = await startHarness(["--engines", "2", "--engine-isolation", "thread"]);
});

afterAll(async () => {
  delete process.env.LOOM_FAULT_INJECTION;
  await h?.close();
});

describe("worker crash recovery", () => {
  it("fails the crashed worker's request, keeps the other streaming, and restarts the worker", async () => {
    const stream = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: [{ role: "user", content: "a long story" }],
      max_tokens: 1500,
      stream: true,
      ...({ ignore_eos: true } as Record<string, unknown>),
    });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    // The survivor is busy, so routing sends this one to the other (idle) worker, which dies on it.
    const crash = await h.client.chat.completions
      .create({ model: TEST_MODEL, messages: [{ role: "user", content: MARKER }], max_tokens: 5 })
      .catch((e: unknown) => e);
    expect(crash).toBeInstanceOf(OpenAI.InternalServerError);
    expect((crash as InstanceType<typeof OpenAI.APIError>).code).toBe("engine_failure");

    let tokens = 1;
    for (let r = await it.next(); r.done !== true; r = await it.next()) if (r.value.choices[0]?.delta.content) tokens++;
    expect(tokens).toBeGreaterThan(1000);

    const restarted = await eventually(async () => {
      const workers = (await engineStatus(h.url)).models[0]?.workers ?? [];
      return workers.length === 2 && workers.every((w) => w.state === "ready") && workers.some((w) => w.host.restarts === 1);
    }, 15_000);
    expect(restarted).toBe(true);
    const after = await Promise.all(
      [1, 2].map(() => h.client.chat.completions.create({ model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 3 })),
    );
    for (const r of after) expect(r.usage?.completion_tokens).toBe(3);
  });
});

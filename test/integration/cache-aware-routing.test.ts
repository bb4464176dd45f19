// Cache-aware routing with --engines 2 through a real server: a prompt whose prefix one worker holds goes to that
// worker even when the other is idle (load-only routing would send it to the idle one and recompute), with the same
// output as without any cache; n choices stay on one worker; and unrelated prompts still spread by load.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness(["--engines", "2", "--parallel", "2", "--ctx-size", String(2 * 2048)]);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const system = (tag: string): string => `System ${tag}: ${"You answer questions about the handbook in short sentences. ".repeat(4)}`;
const messages = (sys: string, q: string) => [
  { role: "system" as const, content: sys },
  { role: "user" as const, content: q },
];

interface WorkerLoad {
  workerId: number;
  inFlight: number;
}

async function loads(): Promise<WorkerLoad[]> {
  const s = (await (await fetch(`${h.url}/v1/status`)).json()) as { models: { id: string; workers: WorkerLoad[] }[] };
  return s.models.find((m) => m.id === TEST_MODEL)?.workers ?? [];
}

describe("cache-aware routing (--engines 2)", () => {
  it("sends a prompt to the busy worker holding its prefix, not the idle one, with a full-prefill output", async () => {
    const x = system("X");
    const baseline = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: messages(x, "Where is the office?"),
      max_tokens: 6,
      temperature: 0,
      cache_prompt: false,
    } as never);
    // A long request with system X holds a worker; an unrelated one goes to the other.
    const held = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: messages(x, "Tell me everything."),
      max_tokens: 1500,
      temperature: 0,
      stream: true,
    });
    const it = held[Symbol.asyncIterator]();
    await it.next();
    await h.client.chat.completions.create({ model: TEST_MODEL, messages: messages(system("Y"), "Hello?"), max_tokens: 2 });
    const before = await loads();
    expect(before.map((w) => w.inFlight).sort()).toEqual([0, 1]);
    const routed = await h.client.chat.completions.create({ model: TEST_MODEL, messages: messages(x, "Where is the office?"), max_tokens: 6, temperature: 0 });
    held.controller.abort();
    expect(routed.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(40);
    expect(routed.choices[0]?.message.content).toBe((baseline as { choices: { message: { content: string } }[] }).choices[0]?.message.content);
  });

  it("n choices of one request run on one worker and share its prompt", async () => {
    const r = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: messages(system("Z"), "Pick a colour."),
      n: 2,
      max_tokens: 4,
      temperature: 1,
      seed: 3,
    });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(r.usage?.completion_tokens).toBe(8);
  });

  it("unrelated prompts at once spread over both workers", async () => {
    const streams = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        h.client.chat.completions.create({
          model: TEST_MODEL,
          messages: messages(system(`U${i}`), "Count slowly."),
          max_tokens: 400,
          temperature: 1,
          stream: true,
        }),
      ),
    );
    await Promise.all(streams.map((s) => s[Symbol.asyncIterator]().next()));
    const spread = (await loads()).map((w) => w.inFlight);
    for (const s of streams) s.controller.abort();
    expect(spread.every((n) => n >= 1)).toBe(true);
  });
});

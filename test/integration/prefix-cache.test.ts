// The prefix cache through a real server and real llama.cpp, on the `margin` preset (greedy tokens that do not
// depend on batch shape, so a cache hit must give exactly the tokens a full prefill gives): reuse in the same slot,
// a copy from a busy slot, prompts arriving together sharing one prefill, and scopes (cache_salt) that never share.
// The baseline of each case is the same request with cache_prompt: false on the same server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { generatedDir } from "../../models/vocab-source.js";
import { startHarness, type Harness } from "../support/server-harness.js";

let h: Harness;
const MODEL = "margin";

beforeAll(async () => {
  const path = join(generatedDir(), "margin.gguf");
  if (!existsSync(path)) await makeSyntheticModel({ preset: "margin", outPath: path });
  h = await startHarness(["--model", `${MODEL}=${path}`, "--parallel", "4", "--ctx-size", String(4 * 1024)]);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

interface Completion {
  readonly text: string;
  readonly promptTokens: number;
  readonly cached: number;
}

interface CacheFields {
  readonly cache_prompt?: boolean;
  readonly cache_salt?: string;
}

async function complete(prompt: string | number[], cache: CacheFields = {}, maxTokens = 12): Promise<Completion> {
  const body = { model: MODEL, prompt, max_tokens: maxTokens, temperature: 0, ...cache };
  const r = await h.client.completions.create(body);
  return {
    text: r.choices[0]?.text ?? "",
    promptTokens: r.usage?.prompt_tokens ?? 0,
    cached: r.usage?.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{model="${MODEL}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

/** A system prompt of its own per case, so no other case's KV holds it. */
const system = (tag: string): string =>
  `System ${tag}: you are a careful assistant for the ${tag} team. Answer in short sentences, cite the handbook, and never guess. `;

describe("prefix cache", () => {
  it("a repeated prompt reuses its slot's KV and gives the tokens a full prefill gives", async () => {
    const prompt = `${system("alpha")}What is the refund policy?`;
    const full = await complete(prompt, { cache_prompt: false });
    const first = await complete(prompt);
    const again = await complete(prompt);
    expect(full.cached).toBe(0);
    expect(again.cached).toBe(again.promptTokens - 1);
    expect([first.text, again.text]).toEqual([full.text, full.text]);
  });

  it("a prefix held by a busy slot is copied, not recomputed, with the same output", async () => {
    const sys = system("beta");
    const question = `${sys}How do I reset my password?`;
    const baseline = await complete(question, { cache_prompt: false });
    const copiesBefore = await metric("loom_prefix_cache_copies_total");
    // A long request holds the only slot with this system prompt while the question arrives.
    const longRun = h.client.completions.create({ model: MODEL, prompt: `${sys}Tell me everything.`, max_tokens: 400, temperature: 0, stream: true });
    const stream = await longRun;
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const copied = await complete(question);
    await stream.controller.abort();
    expect(copied.text).toBe(baseline.text);
    expect(copied.cached).toBeGreaterThan(20);
    expect(await metric("loom_prefix_cache_copies_total")).toBeGreaterThan(copiesBefore);
  });

  it("a narrow rest after a long cached prefix recomputes the prefix's tail to fill an attention tile, with the same output", async () => {
    // CPU flash attention runs fewer than 64 rows of a sequence one by one (narrow-prefill.ts): 40 rows after 900
    // cached tokens cost more than recomputing 24 of those tokens with them, so 876 are reused, not 900.
    const ids = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => 300 + ((i * 7919 + seed * 104_729) % 20_000));
    const prefix = ids(900, 1);
    const second = [...prefix, ...ids(40, 3)];
    const baseline = await complete(second, { cache_prompt: false });
    await complete([...prefix, ...ids(40, 2)]);
    const hit = await complete(second);
    // Only CPU flash attention has the one-row path: on a GPU the whole prefix is reused.
    const status = (await (await fetch(`${h.url}/v1/status`)).json()) as { models: { workers: { backend: { gpu: string | false } | null }[] }[] };
    const onCpu = status.models[0]?.workers[0]?.backend?.gpu === false;
    expect(hit.cached).toBe(onCpu ? 900 - (64 - 40) : 900);
    expect(hit.text).toBe(baseline.text);
  });

  it("identical prompts sent together compute the prompt once and each gets the full-prefill output", async () => {
    const prompt = `${system("gamma")}Summarise the onboarding checklist.`;
    const baseline = await complete(prompt, { cache_prompt: false });
    const together = await Promise.all([0, 1, 2, 3].map(() => complete(prompt)));
    expect(together.map((c) => c.text)).toEqual(together.map(() => baseline.text));
    // One of them computed the prompt; the others copied it (all but the last token, whose logits they need).
    const cached = together.map((c) => c.cached).sort((a, b) => a - b);
    expect(cached.slice(1)).toEqual([1, 2, 3].map(() => baseline.promptTokens - 1));
  });

  it("a different cache_salt reuses nothing and gives the same output; the same salt reuses", async () => {
    const prompt = `${system("delta")}Which holidays are paid?`;
    const a = await complete(prompt, { cache_salt: "tenant-a" });
    const a2 = await complete(prompt, { cache_salt: "tenant-a" });
    const b = await complete(prompt, { cache_salt: "tenant-b" });
    const unsalted = await complete(prompt);
    expect([a.cached, b.cached]).toEqual([0, 0]);
    // Unsalted, only the "System" opening that every case's prompt starts with is found (other cases' KV).
    expect(unsalted.cached).toBeLessThanOrEqual(3);
    expect(a2.cached).toBe(a2.promptTokens - 1);
    expect(new Set([a.text, a2.text, b.text, unsalted.text]).size).toBe(1);
  });

  it("refuses a cache_salt that is not a non-empty string, and a cache_prompt that is not a boolean", async () => {
    for (const bad of [{ cache_salt: "" }, { cache_salt: 7 }, { cache_prompt: "no" }]) {
      const res = await fetch(`${h.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, prompt: "x", max_tokens: 1, ...bad }),
      });
      const body = (await res.json()) as { error: { param: string; type: string } };
      expect([res.status, body.error.type, body.error.param]).toEqual([400, "invalid_request_error", Object.keys(bad)[0]]);
    }
  });

  it("a prefix evicted from every slot is restored from the host tier, with the output a full prefill gives", async () => {
    // Long enough for the host tier (64 tokens or more).
    const prompt = `${system("epsilon").repeat(3)}List the three steps of the incident process.`;
    const baseline = await complete(prompt, { cache_prompt: false });
    await complete(prompt);
    const restoresBefore = await metric("loom_prefix_cache_restores_total");
    // Four unrelated long prompts take all four slots, one after another.
    for (const tag of ["zeta", "eta", "theta", "iota"]) await complete(`${system(tag).repeat(3)}Something else.`, {}, 2);
    expect(await metric("loom_kv_host_tier_entries")).toBeGreaterThan(0);
    const restored = await complete(prompt);
    expect(restored.text).toBe(baseline.text);
    expect(restored.cached).toBe(restored.promptTokens - 1);
    expect(await metric("loom_prefix_cache_restores_total")).toBe(restoresBefore + 1);
  });
});

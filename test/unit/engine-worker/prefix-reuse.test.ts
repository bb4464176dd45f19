// Prefix reuse through the real engine loop and scheduler, on a scripted model whose next token depends on the
// slot's whole KV content (so a wrong copy or a missed erase changes the output): outputs with the prefix cache equal
// outputs without it, while fewer prompt tokens are computed; prompts that arrive together sharing a prefix compute
// it once (the others wait, then copy it); a different cache salt or cache_prompt false reuses nothing.
import { describe, expect, it } from "vitest";
import { EngineLoop, type EngineLoopSink } from "../../../src/engine-worker/engine-loop.js";
import type { SequenceEvent } from "../../../src/engine-worker/worker-messages.js";
import { DEFAULT_SAMPLING, FREE_OUTPUT, type CachePolicy, type GenerateRequestFields, type Usage } from "../../../src/request/generate-request.js";
import { PromptBuilder } from "../../../src/runtime/prompt-builder.js";
import { ScriptedBackend } from "../../support/scripted-backend.js";

/** A deterministic "model": the next token is a hash of everything in the slot's KV up to the sampled position. */
function fromContext(context: readonly number[]): number {
  let h = 2166136261;
  for (const t of context) h = Math.imul(h ^ t, 16777619) >>> 0;
  return 97 + (h % 26);
}

function request(text: string, cache?: CachePolicy, maxTokens = 6): GenerateRequestFields {
  return {
    model: "m",
    prompt: { kind: "text", text },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, minTokens: 0, stop: [], stopTokenIds: [], ignoreEos: true, includeStopStr: false },
    logprobs: null,
    output: FREE_OUTPUT,
    ...(cache === undefined ? {} : { cache }),
  };
}

interface Run {
  readonly texts: Map<string, string>;
  readonly usage: Map<string, Usage>;
  readonly prefillTokens: number;
  readonly copies: number;
}

/** Submits each wave's requests at once, waits for the wave to finish, then the next; returns what came out. */
async function run(waves: readonly (readonly [string, GenerateRequestFields])[][], prefixCache: boolean, slots = 4): Promise<Run> {
  const backend = new ScriptedBackend({ slots, fromContext });
  const texts = new Map<string, string>();
  const usage = new Map<string, Usage>();
  const waiters = new Map<string, () => void>();
  const sink: EngineLoopSink = {
    accepted: () => {},
    rejected: (id, error) => {
      throw new Error(`${id} rejected: ${error.message}`);
    },
    step: (events: SequenceEvent[]) => {
      for (const e of events) {
        texts.set(e.id, (texts.get(e.id) ?? "") + e.text);
        if (e.finish === undefined) continue;
        usage.set(e.id, e.finish.usage);
        waiters.get(e.id)?.();
      }
    },
    log: (_level, message) => {
      throw new Error(message);
    },
  };
  const loop = new EngineLoop(backend, { slots, batchSize: 64, itlTargetMs: 0, prefixCache }, sink, new PromptBuilder(backend, null));
  const running = loop.run();
  for (const wave of waves) {
    const ended = wave.map(([id]) => new Promise<void>((resolve) => waiters.set(id, resolve)));
    for (const [id, fields] of wave) loop.submit(id, fields);
    await Promise.all(ended);
  }
  loop.shutdown();
  await running;
  expect(backend.liveSamplers).toBe(0);
  const plans = backend.stepsRun;
  return {
    texts,
    usage,
    prefillTokens: plans.reduce((n, p) => n + p.prefillTokens, 0),
    copies: plans.reduce((n, p) => n + p.kvOps.filter((op) => op.kind === "copy").length, 0),
  };
}

const SYSTEM = "You are a helpful assistant. Answer briefly and politely. ";

describe("prefix reuse through the engine loop", () => {
  it("a shared system prompt and follow-up turns: same outputs as without the cache, fewer prompt tokens computed", async () => {
    const waves: [string, GenerateRequestFields][][] = [
      [["w0", request(`${SYSTEM}What is the time?`)]],
      // Four users at once: the system prompt sits in w0's (free) slot, and the others share it while it is busy.
      [0, 1, 2, 3].map((i): [string, GenerateRequestFields] => [`u${i}`, request(`${SYSTEM}Question number ${i} about the weather`)]),
      // Follow-up turns that extend earlier conversations (their KV is in free slots now).
      [0, 1].map((i): [string, GenerateRequestFields] => [`t${i}`, request(`${SYSTEM}Question number ${i} about the weather, and then?`)]),
    ];
    const cached = await run(waves, true);
    const plain = await run(waves, false);
    expect(Object.fromEntries(cached.texts)).toEqual(Object.fromEntries(plain.texts));
    expect(cached.prefillTokens).toBeLessThan(plain.prefillTokens / 2);
    expect(cached.copies).toBeGreaterThan(0);
    for (const id of ["u0", "u1", "u2", "u3", "t0", "t1"]) expect(cached.usage.get(id)?.cachedTokens).toBeGreaterThanOrEqual(SYSTEM.length);
    for (const usage of plain.usage.values()) expect(usage.cachedTokens).toBe(0);
  });

  it("identical prompts arriving together compute the prompt once: the others wait for it, then copy it", async () => {
    const prompt = `${SYSTEM}Tell me a story about a dragon and a knight.`;
    const wave: [string, GenerateRequestFields][] = [0, 1, 2, 3].map((i) => [`s${i}`, request(prompt)]);
    const cached = await run([wave], true);
    const plain = await run([wave], false);
    expect(Object.fromEntries(cached.texts)).toEqual(Object.fromEntries(plain.texts));
    // One full prompt plus one re-evaluated last token per sibling (its own logits).
    expect(cached.prefillTokens).toBe(prompt.length + 3);
    expect(plain.prefillTokens).toBe(4 * prompt.length);
    expect(cached.copies).toBe(3);
  });

  it("a different cache salt, or cache_prompt false, reuses nothing and gives the same output", async () => {
    const prompt = `${SYSTEM}Same words, different tenants.`;
    const salted = (salt: string | null, reuse = true): GenerateRequestFields => request(prompt, { reuse, salt });
    const r = await run(
      [[["a", salted("tenant-a")]], [["b", salted("tenant-b")]], [["a2", salted("tenant-a")]], [["off", salted("tenant-a", false)]], [["none", salted(null)]]],
      true,
    );
    expect(r.usage.get("b")?.cachedTokens).toBe(0);
    expect(r.usage.get("a2")?.cachedTokens).toBe(prompt.length - 1);
    expect(r.usage.get("off")?.cachedTokens).toBe(0);
    expect(r.usage.get("none")?.cachedTokens).toBe(0);
    expect(new Set(r.texts.values()).size).toBe(1);
  });
});

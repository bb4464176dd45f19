// Prefix reuse through the real engine loop and scheduler, on a scripted model whose next token depends on the
// slot's whole KV content (so a wrong copy or a missed erase changes the output): outputs with the prefix cache equal
// outputs without it, while fewer prompt tokens are computed; prompts that arrive together sharing a prefix compute
// it once (the others wait, then copy it); a different cache salt or cache_prompt false reuses nothing.
import { describe, expect, it } from "vitest";
import { EngineLoop, type EngineLoopSink } from "../../../src/engine-worker/engine-loop.js";
import type { SequenceEvent } from "../../../src/engine-worker/worker-messages.js";
import { DEFAULT_SAMPLING, FREE_OUTPUT, type CachePolicy, type GenerateRequestFields, type Usage } from "../../../src/request/generate-request.js";
import { PromptBuilder } from "../../../src/runtime/prompt-builder.js";
import type { KvOp, StepPlan } from "../../../src/runtime/step-plan.js";
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
  readonly restores: number;
  readonly saves: number;
  readonly moves: number;
}

interface RunOptions {
  readonly slots?: number;
  /** Host-tier bytes (the scripted backend's files count 100 bytes per token); absent: no host tier. */
  readonly hostBytes?: number;
  /** Save paths that fail (a full disk). */
  readonly failSaves?: readonly string[];
  /** Disk-tier bytes (absent: no disk tier). */
  readonly diskBytes?: number;
}

/** Submits each wave's requests at once, waits for the wave to finish, then the next; returns what came out. */
async function run(waves: readonly (readonly [string, GenerateRequestFields])[][], prefixCache: boolean, o: RunOptions = {}): Promise<Run> {
  const slots = o.slots ?? 4;
  const backend = new ScriptedBackend({ slots, fromContext });
  for (const path of o.failSaves ?? []) backend.failSaves.add(path);
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
  const disk = o.diskBytes === undefined ? {} : { disk: { dir: "/scripted-disk", maxBytes: o.diskBytes } };
  const hostTier = o.hostBytes === undefined ? {} : { hostTier: { dir: "/scripted", maxBytes: o.hostBytes, bytesPerToken: 100, ...disk } };
  const loop = new EngineLoop(backend, { slots, batchSize: 64, itlTargetMs: 0, prefixCache, ...hostTier }, sink, new PromptBuilder(backend, null));
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
    copies: count(plans, "copy"),
    restores: count(plans, "restore"),
    moves: count(plans, "move"),
    saves: count(plans, "save"),
  };
}

function count(plans: readonly StepPlan[], kind: KvOp["kind"]): number {
  return plans.reduce((n, p) => n + p.kvOps.filter((op) => op.kind === kind).length, 0);
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

  it("a conversation evicted from every slot is restored from the host tier, with the same output; unique prompts are never saved", async () => {
    const long = (tag: string): string => `${tag}: ${SYSTEM.repeat(2)}`;
    const waves: [string, GenerateRequestFields][][] = [
      [["a1", request(`${long("Alice")}first question`)]],
      // Her second turn reuses the first: content that serves reuse is worth keeping when it is evicted.
      [["a1b", request(`${long("Alice")}first question, then`)]],
      // Two other conversations take both slots, evicting Alice's.
      [
        ["b1", request(`${long("Bob")}his question`)],
        ["c1", request(`${long("Carol")}her question`)],
      ],
      [["a2", request(`${long("Alice")}first question, and a second one`)]],
    ];
    const hosted = await run(waves, true, { slots: 2, hostBytes: 1_000_000 });
    const plain = await run(waves, false, { slots: 2 });
    expect(Object.fromEntries(hosted.texts)).toEqual(Object.fromEntries(plain.texts));
    expect(hosted.saves).toBeGreaterThan(0);
    expect(hosted.restores).toBe(1);
    expect(hosted.usage.get("a2")?.cachedTokens).toBeGreaterThan(long("Alice").length);
    // Without the host tier the evicted conversation is recomputed.
    const lost = await run(waves, true, { slots: 2 });
    expect(lost.usage.get("a2")?.cachedTokens).toBeLessThan(3);
    // Unique prompts through the same slots: nothing is worth a file.
    const unique = await run(
      [0, 1, 2, 3, 4].map((i) => [[`u${i}`, request(`${long(`User ${i}`)}a question of their own`)]]),
      true,
      { slots: 2, hostBytes: 1_000_000 },
    );
    expect(unique.saves).toBe(0);
  });

  it("a host tier too small for a prefix, or a save that fails, loses the entry but never the output", async () => {
    const waves: [string, GenerateRequestFields][][] = [
      [["a1", request(`Alice: ${SYSTEM.repeat(2)}q`)]],
      [["a1b", request(`Alice: ${SYSTEM.repeat(2)}q, q`)]],
      [["b1", request(`Bob: ${SYSTEM.repeat(2)}q`)]],
      [["a2", request(`Alice: ${SYSTEM.repeat(2)}q and more`)]],
    ];
    const plain = await run(waves, false, { slots: 1 });
    const tiny = await run(waves, true, { slots: 1, hostBytes: 1000 });
    const failing = await run(waves, true, { slots: 1, hostBytes: 1_000_000, failSaves: ["/scripted/1.kv"] });
    for (const r of [tiny, failing]) {
      expect(Object.fromEntries(r.texts)).toEqual(Object.fromEntries(plain.texts));
      expect(r.restores).toBe(0);
    }
    expect(tiny.saves).toBe(0);
    expect(failing.saves).toBeGreaterThan(0);
  });

  it("with a disk tier, a conversation pushed out of the RAM tier is restored from disk, with the same output", async () => {
    const talk = (who: string, turn: string): GenerateRequestFields => request(`${who}: ${SYSTEM.repeat(2)}${turn}`);
    const waves: [string, GenerateRequestFields][][] = [
      [["a1", talk("Alice", "q")]],
      [["a1b", talk("Alice", "q, q")]],
      [["b1", talk("Bob", "q")]],
      [["b1b", talk("Bob", "q, q")]],
      [["c1", talk("Carol", "q")]],
      [["c1b", talk("Carol", "q, q")]],
      [["a2", talk("Alice", "q, q, and")]],
    ];
    // One slot; the RAM tier holds one conversation, the disk tier several.
    const tiered = await run(waves, true, { slots: 1, hostBytes: 20_000, diskBytes: 100_000 });
    const plain = await run(waves, false, { slots: 1 });
    expect(Object.fromEntries(tiered.texts)).toEqual(Object.fromEntries(plain.texts));
    expect(tiered.moves).toBeGreaterThan(0);
    expect(tiered.restores).toBe(1);
    expect(tiered.usage.get("a2")?.cachedTokens).toBeGreaterThan(SYSTEM.length);
  });
});

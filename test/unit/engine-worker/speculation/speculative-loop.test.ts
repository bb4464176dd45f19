// Speculative decoding through the real engine loop, scheduler and speculator, on a scripted model whose next token
// depends on the slot's KV content: mostly on the last two tokens (so outputs fall into cycles that n-gram lookup
// predicts), but at every seventh position on the whole context (so some drafts are rejected). With speculation the
// outputs, usage and finish reasons equal plain decoding's, for stop strings, stop tokens and max_tokens that land
// inside a run of accepted drafts; drafts are verified, accepted and rejected; nothing leaks.
import { describe, expect, it } from "vitest";
import { EngineLoop, type EngineLoopSink } from "../../../../src/engine-worker/engine-loop.js";
import { NgramProposer } from "../../../../src/engine-worker/speculation/ngram-proposer.js";
import { Speculator } from "../../../../src/engine-worker/speculation/speculator.js";
import type { SequenceEvent } from "../../../../src/engine-worker/worker-messages.js";
import { DEFAULT_SAMPLING, FREE_OUTPUT, type FinishReason, type GenerateRequestFields, type Usage } from "../../../../src/request/generate-request.js";
import { PromptBuilder } from "../../../../src/runtime/prompt-builder.js";
import { ScriptedBackend } from "../../../support/scripted-backend.js";

function hash(tokens: readonly number[]): number {
  let h = 2166136261;
  for (const t of tokens) h = Math.imul(h ^ t, 16777619) >>> 0;
  return h;
}

function fromContext(context: readonly number[]): number {
  const h = context.length % 7 === 0 ? hash(context) : hash(context.slice(-2));
  return 97 + (h % 6);
}

interface Options {
  readonly maxTokens?: number;
  readonly stop?: readonly string[];
  readonly stopTokenIds?: readonly number[];
  readonly speculative?: boolean;
}

function request(text: string, o: Options = {}): GenerateRequestFields {
  return {
    model: "m",
    prompt: { kind: "text", text },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: o.maxTokens ?? 40, minTokens: 0, stop: o.stop ?? [], stopTokenIds: o.stopTokenIds ?? [], ignoreEos: true, includeStopStr: false },
    logprobs: null,
    output: FREE_OUTPUT,
    ...(o.speculative === undefined ? {} : { speculative: o.speculative }),
  };
}

interface Outcome {
  readonly text: string;
  readonly ids: number[];
  readonly usage: Omit<Usage, "cachedTokens">;
  readonly reason: FinishReason;
}

async function run(requests: readonly (readonly [string, GenerateRequestFields])[], speculate: boolean) {
  const backend = new ScriptedBackend({ slots: 4, fromContext });
  const out = new Map<string, Outcome>();
  const texts = new Map<string, { text: string; ids: number[] }>();
  const waiters = new Map<string, () => void>();
  const sink: EngineLoopSink = {
    accepted: () => {},
    rejected: (id, error) => {
      throw new Error(`${id} rejected: ${error.message}`);
    },
    step: (events: SequenceEvent[]) => {
      for (const e of events) {
        const t = texts.get(e.id) ?? { text: "", ids: [] };
        t.text += e.text;
        t.ids.push(...e.tokenIds);
        texts.set(e.id, t);
        if (e.finish === undefined) continue;
        // cachedTokens depends on which slot held what when (speculation changes the step timing), not on the output.
        const { cachedTokens: _, ...usage } = e.finish.usage;
        out.set(e.id, { ...t, usage, reason: e.finish.reason });
        waiters.get(e.id)?.();
      }
    },
    log: (_level, message) => {
      throw new Error(message);
    },
  };
  const speculator = new Speculator(speculate ? [new NgramProposer()] : [], { nMax: 8, nMin: 1 });
  const loop = new EngineLoop(backend, { slots: 4, batchSize: 64, itlTargetMs: 0 }, sink, new PromptBuilder(backend, null), speculator);
  const running = loop.run();
  const ended = requests.map(([id]) => new Promise<void>((resolve) => waiters.set(id, resolve)));
  for (const [id, fields] of requests) loop.submit(id, fields);
  await Promise.all(ended);
  const stats = loop.stats();
  loop.shutdown();
  await running;
  expect(backend.liveSamplers).toBe(0);
  for (const kv of backend.kv) expect(kv.length).toBeLessThanOrEqual(256);
  return { out, verified: backend.verified, stats };
}

const PROMPTS = Array.from({ length: 12 }, (_, i) => `prompt ${i}: ${"abcdef".slice(i % 6)}${"xyz".repeat(i % 3)}`);

describe("speculative decoding through the engine loop (n-gram proposer)", () => {
  it("greedy outputs, usage and finish reasons equal plain decoding's; drafts are accepted and rejected", async () => {
    const reqs = PROMPTS.map((p, i): [string, GenerateRequestFields] => [`r${i}`, request(p, { maxTokens: 20 + i })]);
    const spec = await run(reqs, true);
    const plain = await run(reqs, false);
    expect(Object.fromEntries(spec.out)).toEqual(Object.fromEntries(plain.out));
    const drafted = spec.verified.reduce((n, v) => n + v.drafted, 0);
    const accepted = spec.verified.reduce((n, v) => n + v.accepted, 0);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(drafted);
    expect(spec.verified.some((v) => v.accepted === v.drafted)).toBe(true);
    expect(spec.stats.speculation.ngram).toEqual({ drafts: spec.verified.length, draftTokens: drafted, acceptedTokens: accepted });
    expect(plain.verified).toEqual([]);
  });

  it("stop strings, stop tokens and max_tokens inside a run of accepted drafts end the output where plain decoding does", async () => {
    const reqs: [string, GenerateRequestFields][] = [];
    PROMPTS.forEach((p, i) => {
      reqs.push([`s${i}`, request(p, { stop: ["cb", "fa"] })]);
      reqs.push([`t${i}`, request(p, { stopTokenIds: [100] })]);
      reqs.push([`m${i}`, request(p, { maxTokens: 3 + (i % 5) })]);
    });
    const spec = await run(reqs, true);
    const plain = await run(reqs, false);
    expect(Object.fromEntries(spec.out)).toEqual(Object.fromEntries(plain.out));
    expect([...spec.out.values()].some((o) => o.reason === "stop")).toBe(true);
    expect(spec.verified.length).toBeGreaterThan(0);
  });

  it("speculative: false never drafts for that request", async () => {
    const reqs = PROMPTS.slice(0, 4).map((p, i): [string, GenerateRequestFields] => [`q${i}`, request(p, { speculative: false })]);
    const spec = await run(reqs, true);
    expect(spec.verified).toEqual([]);
  });
});

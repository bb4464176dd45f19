// Speculative decoding through a real server, real llama.cpp and the official SDK. Targets are the `margin` preset
// (greedy tokens that do not depend on batch shape, so speculation on must give exactly the tokens it gives off, the
// baseline being the same request with `speculative: false` on the same server). Its head maps each token to a fixed
// successor, so a prompt that already holds the chain it will continue is a copy workload for n-gram lookup. Draft
// models: `tiny` for margin (same vocabulary, different weights: its guesses are mostly rejected) and margin itself
// for "mirror" (every guess accepted). The distribution test samples `tiny` at temperature 1 with itself as draft.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Metadata, status, type Client, type ClientReadableStream, type StatusObject } from "@grpc/grpc-js";
import { ensureDefaultModel, makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { generatedDir } from "../../models/vocab-source.js";
import { busySlots, eventually, startHarness, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

let ngram: Harness;
let draft: Harness;

beforeAll(async () => {
  const margin = join(generatedDir(), "margin.gguf");
  if (!existsSync(margin)) await makeSyntheticModel({ preset: "margin", outPath: margin });
  const tiny = await ensureDefaultModel();
  const common = ["--parallel", "16", "--ctx-size", String(16 * 1024), "--spec-draft-n-max", "6"];
  ngram = await startHarness(["--model", `margin=${margin}`, "--spec-type", "ngram", ...common]);
  draft = await startHarness([
    ...["--model", `margin=${margin}`, "--model", `mirror=${margin}`, "--model", `sampled=${tiny}`],
    ...["-md", `margin=${tiny}`, "-md", `mirror=${margin}`, "-md", `sampled=${tiny}`],
    ...["--spec-type", "draft", ...common],
  ]);
}, 180_000);

afterAll(async () => {
  await ngram?.close();
  await draft?.close();
});

const successor = (t: number): number => (t * 7919 + 13) % 32000;

function chain(from: number, n: number): number[] {
  const out = [from];
  while (out.length < n) out.push(successor(out[out.length - 1] as number));
  return out;
}

/** 50 prompts: 25 that hold the chain they continue (drafts accepted), 25 of text with repeats (little to copy). */
const PROMPTS: (string | number[])[] = [
  ...Array.from({ length: 25 }, (_, i) => {
    const c = chain(100 + 997 * i, 80);
    return [...c, ...c.slice(0, 5 + (i % 7))];
  }),
  ...Array.from({ length: 25 }, (_, i) => `item ${i} and item ${i} and item ${i + 1}: the list goes on and on and on, ${"la ".repeat(i % 5)}`),
];

interface Out {
  readonly text: string;
  readonly tokens: number;
  readonly finish: string;
}

async function complete(h: Harness, model: string, prompt: string | number[], speculative: boolean | undefined, extra: object = {}): Promise<Out> {
  const body = { model, prompt, max_tokens: 24 + (prompt.length % 9), temperature: 0, ...(speculative === undefined ? {} : { speculative }), ...extra };
  const r = await h.client.completions.create(body as Parameters<typeof h.client.completions.create>[0] & { stream?: false });
  return { text: r.choices[0]?.text ?? "", tokens: r.usage?.completion_tokens ?? 0, finish: r.choices[0]?.finish_reason ?? "" };
}

/** Runs `f` over the items, 16 at a time (every slot busy: drafts of many sequences verified in one decode). */
async function pool<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
    }),
  );
  return out;
}

async function counts(h: Harness, model: string, proposer: string): Promise<{ drafted: number; accepted: number }> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const value = (name: string): number => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}{model="${model}",proposer="${proposer}"}`));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };
  return { drafted: value("loom_spec_decode_draft_tokens_total"), accepted: value("loom_spec_decode_accepted_tokens_total") };
}

/** Greedy outputs with speculation forced on equal those with it off, for all 50 prompts, 16 at a time. */
async function expectExact(h: Harness, model: string, proposer: string): Promise<{ drafted: number; accepted: number }> {
  const before = await counts(h, model, proposer);
  const on = await pool(PROMPTS, (p) => complete(h, model, p, true));
  const off = await pool(PROMPTS, (p) => complete(h, model, p, false));
  expect(on).toEqual(off);
  const after = await counts(h, model, proposer);
  return { drafted: after.drafted - before.drafted, accepted: after.accepted - before.accepted };
}

describe("speculative decoding: exact under greedy sampling", () => {
  it("n-gram lookup: 50 prompts give the tokens plain decoding gives; copies are accepted, other guesses rejected", async () => {
    const c = await expectExact(ngram, "margin", "ngram");
    expect(c.accepted).toBeGreaterThan(25 * 10);
    // Rejections, on prompts built to mislead the lookup: the chain's start appears earlier followed by other tokens,
    // so the first guess is those tokens while the model continues the chain (exactness is checked above).
    const before = await counts(ngram, "margin", "ngram");
    for (let i = 0; i < 3; i++) {
      const c = chain(5000 + 131 * i, 6);
      // The lookup runs after the first output token (c[5]), so the decoy holds c[0..5] and then goes elsewhere.
      const decoy = [...c.slice(0, 6), 4000 + i, 4100 + i, 4200 + i, 4300 + i];
      const out = await complete(ngram, "margin", [...decoy, ...chain(9000 + i, 20), ...c.slice(0, 5)], true);
      expect(out.tokens).toBeGreaterThan(0);
    }
    const after = await counts(ngram, "margin", "ngram");
    expect(after.drafted - before.drafted - (after.accepted - before.accepted)).toBeGreaterThan(0);
  }, 120_000);

  it("a draft model whose guesses are mostly rejected: 50 prompts, the same tokens", async () => {
    const c = await expectExact(draft, "margin", "draft");
    expect(c.drafted).toBeGreaterThan(100);
    expect(c.accepted).toBeLessThan(c.drafted / 2);
  }, 120_000);

  it("a draft model whose guesses are all accepted: 50 prompts, the same tokens", async () => {
    const c = await expectExact(draft, "mirror", "draft");
    expect(c.drafted).toBeGreaterThan(100);
    expect(c.accepted).toBe(c.drafted);
  }, 120_000);

  it("stop strings and max_tokens inside accepted drafts end where plain decoding ends", async () => {
    const text = (await complete(draft, "mirror", "Hello there", false)).text;
    const stop = text.slice(6, 9);
    const cases = [{ stop: [stop] }, { max_tokens: 3 }, { max_tokens: 7 }, { stop: [text.slice(12, 14)], max_tokens: 30 }];
    for (const extra of cases) {
      expect(await complete(draft, "mirror", "Hello there", true, extra)).toEqual(await complete(draft, "mirror", "Hello there", false, extra));
    }
  }, 60_000);
});

describe("speculative decoding: sampled output keeps the target's distribution", () => {
  /** The first three tokens at temperature 1 (top_k 3), one request per seed. */
  async function samples(speculative: boolean, seeds: readonly number[]): Promise<string[]> {
    return pool(seeds, async (seed) => {
      const r = await draft.client.completions.create({
        model: "sampled",
        prompt: "The weather today",
        max_tokens: 3,
        temperature: 1,
        top_k: 3,
        seed,
        speculative,
        ignore_eos: true,
        return_tokens_as_token_ids: true,
        logprobs: 0,
      } as Parameters<typeof draft.client.completions.create>[0] & { stream?: false });
      return (r.choices[0]?.logprobs?.tokens ?? []).join(" ");
    });
  }

  it("chi-square: the joint distribution of tokens 2 and 3 with speculation equals it without (400 seeds each)", async () => {
    const before = await counts(draft, "sampled", "draft");
    const on = await samples(
      true,
      Array.from({ length: 400 }, (_, i) => i + 1),
    );
    const off = await samples(
      false,
      Array.from({ length: 400 }, (_, i) => i + 10_001),
    );
    const after = await counts(draft, "sampled", "draft");
    expect(after.accepted - before.accepted).toBeGreaterThan(50);
    expect(after.drafted - after.accepted - (before.drafted - before.accepted)).toBeGreaterThan(50);
    const key = (s: string): string => s.split(" ").slice(1).join(" ");
    const { statistic, dof } = chiSquareTwoSample(on.map(key), off.map(key));
    // p < 0.001 would reject "same distribution": the critical value for dof degrees of freedom (Wilson–Hilferty).
    expect(dof).toBeGreaterThan(2);
    expect(statistic).toBeLessThan(chiSquareCritical(dof, 3.09));
  }, 120_000);
});

describe("speculative decoding: concurrency, cancel and deadline", () => {
  it("16 streams speculating at once all finish, and a cancelled stream frees its slot", async () => {
    const long = chain(5, 200);
    const streams = Array.from({ length: 16 }, (_, i) => complete(draft, "mirror", [...long.slice(i), ...long.slice(i, i + 3)], true, { max_tokens: 64 }));
    const done = await Promise.all(streams);
    for (const d of done) expect(d.tokens).toBe(64);
    const stream = await draft.client.completions.create({
      model: "mirror",
      prompt: "Go on",
      max_tokens: 900,
      stream: true,
      ignore_eos: true,
      speculative: true,
    } as Parameters<typeof draft.client.completions.create>[0] & { stream: true });
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 5) break;
    expect(await eventually(async () => (await busySlots(draft.url)) === 0, 5_000)).toBe(true);
  }, 60_000);

  it("a gRPC deadline mid-speculation ends the call and frees the slot", async () => {
    type Msg = Record<string, unknown>;
    const c = generationClient<Client & { Generate: (req: Msg, meta: Metadata, opts: { deadline: number }) => ClientReadableStream<Msg> }>(
      draft.server.grpcPort as number,
    );
    const call = c.Generate({ model: "mirror", text: "Keep going", stopping: { max_tokens: 900, ignore_eos: true }, speculative: true }, new Metadata(), {
      deadline: Date.now() + 500,
    });
    call.on("data", () => {});
    call.on("error", () => {});
    const st = await new Promise<StatusObject>((resolve) => call.on("status", resolve));
    expect(st.code).toBe(status.DEADLINE_EXCEEDED);
    expect(await eventually(async () => (await busySlots(draft.url)) === 0, 5_000)).toBe(true);
    c.close();
  }, 30_000);
});

describe("speculative decoding: start-up", () => {
  it("refuses a draft model whose vocabulary differs from the target's, naming both sizes", async () => {
    const bpe = join(generatedDir(), "tiny-llama-bpe.gguf");
    if (!existsSync(bpe)) await makeSyntheticModel({ preset: "tiny", vocab: "llama-bpe", outPath: bpe });
    await expect(startHarness(["-md", `tiny=${bpe}`])).rejects.toThrow(
      /draft model .* cannot serve tiny: the draft model's vocabulary has 128256 tokens, the target's 32000/,
    );
  }, 120_000);
});

/** Pearson's chi-square for two samples of categories; categories seen fewer than 10 times in all are pooled. */
function chiSquareTwoSample(a: readonly string[], b: readonly string[]): { statistic: number; dof: number } {
  const counts = new Map<string, [number, number]>();
  for (const x of a) (counts.get(x) ?? counts.set(x, [0, 0]).get(x) ?? [0, 0])[0]++;
  for (const x of b) (counts.get(x) ?? counts.set(x, [0, 0]).get(x) ?? [0, 0])[1]++;
  const bins: [number, number][] = [];
  const rare: [number, number] = [0, 0];
  for (const c of counts.values()) {
    if (c[0] + c[1] >= 10) bins.push(c);
    else [rare[0], rare[1]] = [rare[0] + c[0], rare[1] + c[1]];
  }
  if (rare[0] + rare[1] > 0) bins.push(rare);
  const [na, nb] = [a.length, b.length];
  let statistic = 0;
  for (const [x, y] of bins) {
    const total = x + y;
    const ea = (total * na) / (na + nb);
    const eb = (total * nb) / (na + nb);
    statistic += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb;
  }
  return { statistic, dof: bins.length - 1 };
}

/** The chi-square quantile for `dof` at the normal quantile z (Wilson–Hilferty). */
function chiSquareCritical(dof: number, z: number): number {
  const t = 2 / (9 * dof);
  return dof * (1 - t + z * Math.sqrt(t)) ** 3;
}

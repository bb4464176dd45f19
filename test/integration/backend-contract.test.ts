// The backend contract, against the real llama.cpp backend (the synthetic `margin` preset, whose greedy tokens have
// clear top-1 margins, so comparing tokens across batch shapes tests the executor and not kernel noise, which flips
// near-ties: bench/results/2026-12-01-flip-rate.md): the executor runs exactly the
// plan it is given. Sampling several positions of one sequence in one decode (the verify path) gives the tokens that
// one-at-a-time decoding gives; erase and copy leave exactly the KV they claim; and the node-llama-cpp internals the
// executor needs are all there (an upgrade that changes them fails here, naming the member).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { generatedDir } from "../../models/vocab-source.js";
import { DEFAULT_SAMPLING } from "../../src/request/generate-request.js";
import { loadLlamaBackend, type LlamaBackend } from "../../src/runtime/llama-backend.js";
import { missingMembers, REQUIRED_MEMBERS } from "../../src/runtime/llama-addon.js";
import type { SequenceSampling } from "../../src/runtime/model-backend.js";
import type { KvOp, StepEntry, StepPlan } from "../../src/runtime/step-plan.js";

let backend: LlamaBackend;
let stepNo = 0;

beforeAll(async () => {
  const modelPath = join(generatedDir(), "margin.gguf");
  if (!existsSync(modelPath)) await makeSyntheticModel({ preset: "margin", outPath: modelPath });
  backend = await loadLlamaBackend({
    modelPath,
    slots: 4,
    slotContextSize: 256,
    ubatchSize: 256,
    flashAttn: "auto",
    threads: 1,
    threadsBatch: 1,
    gpu: "cpu",
    gpuLayers: 0,
    // The binary `npm start` serves with. "auto" would load a local build in this process without the smoke test
    // `loom serve` runs first: a -march=native build that dies on this CPU (SIGILL, Sapphire Rapids) kills the worker.
    nativeBuild: "never",
    log: () => {},
  });
});

afterAll(async () => {
  await backend?.dispose();
});

const greedy = (): SequenceSampling => ({ params: { ...DEFAULT_SAMPLING, temperature: 0 }, logprobs: null, suppressEog: true, outputTokens: [] });

function plan(entries: StepEntry[], kvOps: KvOp[] = []): StepPlan {
  const tokens = entries.reduce((n, e) => n + e.tokens.length, 0);
  return { step: ++stepNo, kvOps, entries, decodeTokens: 0, prefillTokens: tokens };
}

const entry = (seqId: string, slot: number, start: number, tokens: readonly number[], sampleAt: readonly number[]): StepEntry => ({
  seqId,
  slot,
  start,
  tokens,
  sampleAt,
  outputIndex: 0,
});

/** Prefill `prompt` into `slot`, then greedy-decode `n` tokens one step at a time. */
async function decodeOneByOne(slot: number, prompt: readonly number[], n: number): Promise<number[]> {
  const s = greedy();
  const out: number[] = [];
  let next = (await backend.step(plan([entry("one", slot, 0, prompt, [prompt.length - 1])]), () => s)).sampled.get("one")?.[0]?.token as number;
  for (let i = 0; i < n; i++) {
    out.push(next);
    if (i + 1 === n) break;
    const r = await backend.step(plan([entry("one", slot, prompt.length + i, [next], [0])]), () => s);
    next = r.sampled.get("one")?.[0]?.token as number;
  }
  backend.releaseSampling(s);
  return out;
}

describe("backend contract", () => {
  it("has every node-llama-cpp internal it drives", () => {
    const b = backend as unknown as { context: object; model: object; sequences: object[] };
    expect(missingMembers(b.context, b.model, b.sequences[0] as object)).toEqual([]);
    // The check names what is missing.
    expect(missingMembers({}, b.model, b.sequences[0] as object)).toEqual(REQUIRED_MEMBERS.filter((m) => m.startsWith("LlamaContext.")));
  });

  it("samples several positions of one sequence in one decode exactly as one-at-a-time decoding does", async () => {
    const prompt = backend.tokenize("The quick brown fox jumps over the lazy dog, and then", false);
    const reference = await decodeOneByOne(0, prompt, 8);
    // The verify path: the prompt plus the first 7 reference tokens in one entry, sampled at the prompt's last
    // position and after each of those tokens.
    const tokens = [...prompt, ...reference.slice(0, 7)];
    const sampleAt = Array.from({ length: 8 }, (_, i) => prompt.length - 1 + i);
    const s = greedy();
    const r = await backend.step(plan([entry("verify", 1, 0, tokens, sampleAt)]), () => s);
    backend.releaseSampling(s);
    expect(r.sampled.get("verify")?.map((t) => t.token)).toEqual(reference);
  });

  it("erase leaves exactly the cells before it; decoding after an erase matches a fresh slot", async () => {
    const prompt = backend.tokenize("Erase me after the fifth token please", false);
    const s = greedy();
    await backend.step(plan([entry("a", 2, 0, prompt, [prompt.length - 1])]), () => s);
    expect(backend.kvCellsUsed()).toBeGreaterThanOrEqual(prompt.length);
    const before = cells(2);
    expect(before).toBe(prompt.length);
    // Erase from position 5, then continue from there with other tokens: the same as a fresh slot given those.
    const tail = backend.tokenize(" and then something else entirely", false);
    const r = await backend.step(plan([entry("a", 2, 5, tail, [tail.length - 1])], [{ kind: "erase", slot: 2, from: 5, to: null }]), () => s);
    backend.releaseSampling(s);
    expect(cells(2)).toBe(5 + tail.length);
    const fresh = await decodeOneByOne(3, [...prompt.slice(0, 5), ...tail], 1);
    expect(r.sampled.get("a")?.[0]?.token).toBe(fresh[0]);
    await backend.step(
      plan(
        [],
        [
          { kind: "erase", slot: 2, from: 0, to: null },
          { kind: "erase", slot: 3, from: 0, to: null },
        ],
      ),
      greedy,
    );
    expect(cells(2)).toBe(0);
    expect(cells(3)).toBe(0);
  });

  it("copy makes the target hold exactly what the source holds", async () => {
    const prompt = backend.tokenize("Copy this prefix into another slot", false);
    const s = greedy();
    const first = await backend.step(plan([entry("src", 0, 0, prompt, [prompt.length - 1])], [{ kind: "erase", slot: 0, from: 0, to: null }]), () => s);
    await backend.step(plan([], [{ kind: "copy", fromSlot: 0, toSlot: 3 }]), greedy);
    expect(cells(3)).toBe(cells(0));
    // Continuing both slots with the same token gives the same next token.
    const t = first.sampled.get("src")?.[0]?.token as number;
    const a = greedy();
    const b = greedy();
    const r = await backend.step(plan([entry("x", 0, prompt.length, [t], [0]), entry("y", 3, prompt.length, [t], [0])]), (id) => (id === "x" ? a : b));
    expect(r.sampled.get("y")?.[0]?.token).toBe(r.sampled.get("x")?.[0]?.token);
    for (const x of [s, a, b]) backend.releaseSampling(x);
  });

  it("save writes a slot's KV to a file; restore into another slot holds exactly it; drop deletes the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loom-kv-contract-"));
    const path = join(dir, "1.kv");
    const prompt = backend.tokenize("Save this prefix to a file and load it elsewhere", false);
    const s = greedy();
    const first = await backend.step(plan([entry("src", 1, 0, prompt, [prompt.length - 1])], [{ kind: "erase", slot: 1, from: 0, to: null }]), () => s);
    const saved = await backend.step(plan([], [{ kind: "save", slot: 1, path, tokens: prompt }]), greedy);
    expect(saved.saved?.get(path)).toBeGreaterThan(prompt.length * 100);
    await backend.step(
      plan(
        [],
        [
          { kind: "erase", slot: 2, from: 0, to: null },
          { kind: "restore", slot: 2, path },
        ],
      ),
      greedy,
    );
    expect(cells(2)).toBe(prompt.length);
    const t = first.sampled.get("src")?.[0]?.token as number;
    const a = greedy();
    const b = greedy();
    const r = await backend.step(plan([entry("x", 1, prompt.length, [t], [0]), entry("y", 2, prompt.length, [t], [0])]), (id) => (id === "x" ? a : b));
    expect(r.sampled.get("y")?.[0]?.token).toBe(r.sampled.get("x")?.[0]?.token);
    // Moved to another directory (the disk tier), it restores from there just the same.
    const moved = join(dir, "disk-1.kv");
    const m = await backend.step(plan([], [{ kind: "move", from: path, to: moved }]), greedy);
    expect([m.saved?.get(moved), existsSync(path)]).toEqual([saved.saved?.get(path), false]);
    await backend.step(
      plan(
        [],
        [
          { kind: "erase", slot: 2, from: 0, to: null },
          { kind: "restore", slot: 2, path: moved },
        ],
      ),
      greedy,
    );
    expect(cells(2)).toBe(prompt.length);
    // A move of a file that is not there is reported by its absence.
    expect((await backend.step(plan([], [{ kind: "move", from: path, to: join(dir, "x.kv") }]), greedy)).saved?.size ?? 0).toBe(0);
    await backend.step(plan([], [{ kind: "drop", path: moved }]), greedy);
    expect(existsSync(moved)).toBe(false);
    // A save that cannot be written is reported by its absence, not as a failed step.
    const bad = await backend.step(plan([], [{ kind: "save", slot: 1, path: join(dir, "missing", "x.kv"), tokens: prompt }]), greedy);
    expect(bad.saved?.size ?? 0).toBe(0);
    for (const x of [s, a, b]) backend.releaseSampling(x);
    rmSync(dir, { recursive: true, force: true });
  });
  it("a grammar armed mid-reply first reads the text it was armed with; text it cannot read leaves the reply free", async () => {
    const grammar = 'root ::= "<tool_call>\\n{" [a-z]{1,3} "}"\n';
    const prompt = [1, 500, 600, 700];
    const erase = (slot: number): KvOp[] => [{ kind: "erase", slot, from: 0, to: null }];
    const armed: SequenceSampling = { ...greedy(), grammar, grammarFed: "<tool_call>\n{" };
    const r = await backend.step(plan([entry("armed", 3, 0, prompt, [prompt.length - 1])], erase(3)), () => armed);
    const after = [backend.tokenize("a", false, false).at(-1) as number];
    expect(backend.detokenize([r.sampled.get("armed")?.[0]?.token as number], false, after)).toMatch(/^[a-z]{1,3}\}?$/);
    expect([armed.grammar, armed.grammarFed]).toEqual([grammar, undefined]);
    backend.releaseSampling(armed);

    // Off the grammar's syntax (a space where it wants a newline): dropped, the token is the unconstrained one.
    const off: SequenceSampling = { ...greedy(), grammar, grammarFed: "<tool_call> {" };
    const o = await backend.step(plan([entry("off", 2, 0, prompt, [prompt.length - 1])], erase(2)), () => off);
    expect(off.grammar).toBeNull();
    backend.releaseSampling(off);
    await backend.step(plan([], erase(1)), greedy);
    expect(o.sampled.get("off")?.[0]?.token).toBe((await decodeOneByOne(1, prompt, 1))[0]);
  });
});

function cells(slot: number): number {
  const b = backend as unknown as { executor: { cellsUsed(slot: number): number } };
  return b.executor.cellsUsed(slot);
}

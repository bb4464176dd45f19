// Tests for the synthetic model recipe: byte-for-byte determinism, llama metadata and tokenizer copy,
// the draft/target weight sharing that speculative decoding relies on, and the CLI argument parser.
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GgufTensorSpec, readGgufFile } from "../../../models/gguf-file.js";
import { parseMakeModelArgs } from "../../../models/make-model-cli.js";
import { PRESETS, makeSyntheticModel, syntheticTensorSpecs } from "../../../models/make-synthetic-model.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "loom-synth-test-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("makeSyntheticModel", () => {
  it("is deterministic: same seed => identical bytes, different seed => different bytes", async () => {
    const a = await makeSyntheticModel({ preset: "tiny", seed: 7, outPath: join(dir, "a.gguf") });
    const b = await makeSyntheticModel({ preset: "tiny", seed: 7, outPath: join(dir, "b.gguf") });
    const c = await makeSyntheticModel({ preset: "tiny", seed: 8, outPath: join(dir, "c.gguf") });
    const [bytesA, bytesB, bytesC] = await Promise.all([a.path, b.path, c.path].map((p) => readFile(p)));
    expect(bytesA?.equals(bytesB ?? Buffer.alloc(0))).toBe(true);
    expect(bytesA?.equals(bytesC ?? Buffer.alloc(0))).toBe(false);
    expect(a.params).toBe(c.params);
  });

  it("writes llama metadata, the vocab's tokenizer and a chat template ending turns with its EOS", async () => {
    const made = await makeSyntheticModel({ preset: "tiny", outPath: join(dir, "meta.gguf") });
    const file = await readGgufFile(made.path);
    const get = (key: string): unknown => file.metadata.get(key)?.value;
    expect(get("general.architecture")).toBe("llama");
    expect(get("llama.embedding_length")).toBe(PRESETS.tiny.nEmbd);
    expect(get("llama.block_count")).toBe(PRESETS.tiny.nLayer);
    expect(get("llama.context_length")).toBe(8192);
    expect(get("llama.rope.dimension_count")).toBe(16);
    expect(get("tokenizer.ggml.model")).toBe("llama");
    expect((get("tokenizer.ggml.tokens") as string[]).length).toBe(32000);
    expect(get("tokenizer.chat_template")).toContain("</s>");
    const names = file.tensors.map((t) => t.name);
    expect(names[0]).toBe("token_embd.weight");
    expect(names).toContain("output.weight"); // tiny keeps an untied head (see Preset.tiedEmbeddings)
    expect(names.filter((n) => n.startsWith("blk.1."))).toHaveLength(9);
    expect(file.tensors.find((t) => t.name === "blk.0.ffn_down.weight")?.ne).toEqual([128, 64]);
    expect(made.params).toBe(file.tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0));
  });
});

/** Concatenates a tensor's generated values (without writing any file). */
function values(specs: GgufTensorSpec[], name: string): Float32Array {
  const spec = specs.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no ${name}`);
  const chunks = [...spec.data()];
  const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Bitwise equality; vitest's deep toEqual walks a million-element array far too slowly. */
const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("draft/target presets", () => {
  const draft = syntheticTensorSpecs({ preset: "draft" }, 32000);
  const target = syntheticTensorSpecs({ preset: "target" }, 32000);
  const targetHalf = syntheticTensorSpecs({ preset: "target", eps: 0.5 }, 32000);

  it("share the draft's layers exactly and have identical shapes otherwise", () => {
    expect(draft.filter((s) => s.name.startsWith("blk.")).length).toBe(18);
    expect(target.filter((s) => s.name.startsWith("blk.")).length).toBe(108);
    for (const name of ["blk.0.attn_q.weight", "blk.1.ffn_down.weight", "blk.1.attn_output.weight"]) {
      expect(sameBits(values(target, name), values(draft, name))).toBe(true);
    }
  });

  it("scale the extra layers' residual writes by eps (0 => identity layers)", () => {
    expect(values(target, "blk.5.attn_output.weight").every((v) => v === 0)).toBe(true);
    expect(values(target, "blk.11.ffn_down.weight").every((v) => v === 0)).toBe(true);
    const half = values(targetHalf, "blk.5.attn_output.weight");
    const full = values(syntheticTensorSpecs({ preset: "bench" }, 32000), "blk.5.attn_output.weight");
    expect(half.filter((v, i) => v !== Math.fround((full[i] ?? NaN) * 0.5)).length).toBe(0);
    expect(sameBits(values(target, "blk.5.attn_q.weight"), values(targetHalf, "blk.5.attn_q.weight"))).toBe(true);
    expect(sameBits(values(target, "blk.5.attn_q.weight"), values(draft, "blk.0.attn_q.weight"))).toBe(false);
  });
});

describe("parseMakeModelArgs", () => {
  it("parses every flag and keeps unset ones absent", () => {
    expect(parseMakeModelArgs([])).toEqual({ preset: "tiny" });
    expect(parseMakeModelArgs(["--preset", "target", "--out", "x.gguf", "--seed", "9", "--eps", "0.1", "--vocab", "llama-bpe", "--quant", "f16"])).toEqual({
      preset: "target",
      outPath: "x.gguf",
      seed: 9,
      eps: 0.1,
      vocab: "llama-bpe",
      quant: "f16",
    });
    expect(parseMakeModelArgs(["--help"])).toBeNull();
  });

  it("rejects unknown flags and bad values", () => {
    expect(() => parseMakeModelArgs(["--preset", "huge"])).toThrow(/preset/);
    expect(() => parseMakeModelArgs(["--seed", "1.5"])).toThrow(/seed/);
    expect(() => parseMakeModelArgs(["--eps", "abc"])).toThrow(/eps/);
    expect(() => parseMakeModelArgs(["--frobnicate"])).toThrow();
  });
});

describe("margin preset", () => {
  const n = 64;
  const specs = syntheticTensorSpecs({ preset: "margin" }, n);

  it("has a successor head: the row of token (t × 7919 + 13) mod n_vocab is token t's embedding", () => {
    const e = PRESETS.margin.nEmbd;
    const embd = values(specs, "token_embd.weight");
    const head = values(specs, "output.weight");
    for (const t of [0, 1, 17, n - 1]) {
      const s = (t * 7919 + 13) % n;
      expect(sameBits(head.subarray(s * e, (s + 1) * e), embd.subarray(t * e, (t + 1) * e))).toBe(true);
    }
  });

  it("scales every layer's residual writes by 0.1", () => {
    const plain = values(syntheticTensorSpecs({ preset: "draft" }, n), "blk.0.ffn_down.weight");
    const scaled = values(specs, "blk.0.ffn_down.weight");
    expect(scaled[5]).toBeCloseTo((plain[5] ?? 0) * 0.1, 6);
  });
});

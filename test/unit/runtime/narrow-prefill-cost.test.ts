// The narrow-chunk penalty from a model's shape: read from GGUF metadata and tensor shapes, 0 off CPU flash attention.
import { describe, expect, it } from "vitest";
import { attentionShape, narrowPrefillPenaltyPerCell, ONE_ROW_MAC_COST } from "../../../src/runtime/narrow-prefill-cost.js";

const metadata = { general: { architecture: "llama" }, llama: { block_count: 2, embedding_length: 64, attention: { head_count: 4 } } };
const tensors = [
  { name: "token_embd.weight", dimensions: [64, 1000] },
  { name: "blk.0.attn_q.weight", dimensions: [64, 64] },
  { name: "blk.0.ffn_up.weight", dimensions: [64, 128n] },
  { name: "blk.0.attn_norm.weight", dimensions: [64] },
  { name: "blk.1.attn_q.weight", dimensions: [64, 64] },
  { name: "blk.1.ffn_up.weight", dimensions: [64, 128] },
];

describe("narrow-prefill cost", () => {
  it("reads layers, heads, head size and the blocks' multiply-adds (not embeddings, not norms)", () => {
    expect(attentionShape(metadata, "llama", tensors)).toEqual({ layers: 2, heads: 4, headDim: 16, blockMacsPerToken: 2 * (64 * 64 + 64 * 128) });
  });

  it("prices a row and cell of the one-row path in prefill tokens, on CPU flash attention only", () => {
    const shape = attentionShape(metadata, "llama", tensors);
    expect(narrowPrefillPenaltyPerCell(shape, true)).toBeCloseTo((ONE_ROW_MAC_COST * 2 * 4 * 16) / (2 * (64 * 64 + 64 * 128)));
    expect(narrowPrefillPenaltyPerCell(shape, false)).toBe(0);
    expect(narrowPrefillPenaltyPerCell(null, true)).toBe(0);
  });

  it("gives no shape when the metadata lacks one", () => {
    expect(attentionShape({ general: { architecture: "mamba" } }, "mamba", tensors)).toBeNull();
    expect(attentionShape(metadata, "llama", undefined)).toBeNull();
  });
});

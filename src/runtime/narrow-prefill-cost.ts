// What a prompt chunk of fewer than 64 rows costs extra on CPU flash attention (engine-worker/narrow-prefill.ts says
// why), per row per KV cell of context, in prefill tokens, from the model's shape: the one-row path does
// layers × heads × head size multiply-adds per cell, about ONE_ROW_MAC_COST times as slow as the layers' matrix
// products are per multiply-add. Measured with bench/narrow-prefill.ts on the bench model (AVX2 EPYC, 2 threads):
// 2.2 µs per row and cell over a 1.66 ms prefill token, i.e. 1.3e-3 tokens, for 9,216 multiply-adds per cell
// against 85 M per token.

export const ONE_ROW_MAC_COST = 12;

/** ggml-cpu's flash-attention query tile (GGML_FA_TILE_Q): fewer rows of one sequence in a pass go one by one. */
export const FA_TILE_ROWS = 64;

export interface AttentionShape {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  /** Multiply-adds per token in the repeating blocks (the output head runs only for sampled rows). */
  readonly blockMacsPerToken: number;
}

interface TensorShape {
  readonly name: string;
  readonly dimensions: readonly (number | bigint)[];
}

/** The shape from GGUF metadata and tensor list; null when something is missing. */
export function attentionShape(
  metadata: Readonly<Record<string, unknown>>,
  architecture: string,
  tensors: readonly TensorShape[] | undefined,
): AttentionShape | null {
  const arch = metadata[architecture] as Readonly<Record<string, unknown>> | undefined;
  const attention = arch?.attention as Readonly<Record<string, unknown>> | undefined;
  const layers = Number(arch?.block_count);
  const heads = Number(attention?.head_count);
  const headDim = Number(attention?.key_length ?? Number(arch?.embedding_length) / heads);
  let macs = 0;
  for (const t of tensors ?? []) {
    if (!t.name.startsWith("blk.") || t.dimensions.length < 2) continue;
    macs += t.dimensions.reduce<number>((n, d) => n * Number(d), 1);
  }
  const shape = { layers, heads, headDim, blockMacsPerToken: macs };
  return Object.values(shape).every((v) => Number.isFinite(v) && v > 0) ? shape : null;
}

/** 0 where the one-row path is not taken: a GPU backend, flash attention off, or an unknown shape. */
export function narrowPrefillPenaltyPerCell(shape: AttentionShape | null, cpuFlashAttention: boolean): number {
  if (!cpuFlashAttention || shape === null) return 0;
  return (ONE_ROW_MAC_COST * shape.layers * shape.heads * shape.headDim) / shape.blockMacsPerToken;
}

// Tensor element encodings used by the synthetic GGUF files: F32, F16 and Q8_0 (encode + decode).
// Owns the f32<->f16 bit conversion (Node 20 has no Float16Array) and a Q8_0 quantizer that follows
// ggml's reference `quantize_row_q8_0_ref`, so llama.cpp reads back exactly what we meant to write.

/** ggml tensor type ids (subset) — the numbers are the on-disk values from ggml.h. */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlTypeCode = (typeof GGML_TYPE)[keyof typeof GGML_TYPE];

/** Q8_0 block: one f16 scale followed by 32 signed bytes. */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE half from a number, round-to-nearest-even (same rounding as the F16C instruction ggml uses). */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  const bits = scratchU32[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return sign | subnormalHalf(mant | 0x800000, 14 - e);
  const round = mant & 0x1fff;
  let half = (e << 10) | (mant >>> 13);
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (round > 0x1000 || (round === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

function subnormalHalf(significand: number, shift: number): number {
  if (shift > 24) return 0;
  let half = significand >>> shift;
  const rem = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
  return half;
}

export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Bytes a tensor of `elements` values occupies on disk. */
export function tensorByteSize(type: GgmlTypeCode, elements: number): number {
  switch (type) {
    case GGML_TYPE.F32:
      return elements * 4;
    case GGML_TYPE.F16:
      return elements * 2;
    case GGML_TYPE.Q8_0:
      if (elements % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} elements, got ${elements}`);
      return (elements / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

/** Encodes a chunk of values (for Q8_0 a whole number of blocks) into little-endian file bytes. */
export function encodeTensorChunk(type: GgmlTypeCode, data: Float32Array): Uint8Array {
  switch (type) {
    case GGML_TYPE.F32:
      return encodeF32(data);
    case GGML_TYPE.F16:
      return encodeF16(data);
    case GGML_TYPE.Q8_0:
      return quantizeQ8_0(data);
  }
}

/** Decodes file bytes back to f32 — used by the tests and by readers of our own files. */
export function decodeTensorBytes(type: GgmlTypeCode, bytes: Uint8Array, elements: number): Float32Array {
  if (type === GGML_TYPE.Q8_0) return dequantizeQ8_0(bytes, elements);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(elements);
  for (let i = 0; i < elements; i++) {
    out[i] = type === GGML_TYPE.F32 ? view.getFloat32(i * 4, true) : f16BitsToF32(view.getUint16(i * 2, true));
  }
  return out;
}

function encodeF32(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  // DataView rather than reinterpreting the Float32Array: GGUF is little-endian whatever the host is.
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] ?? 0, true);
  return out;
}

function encodeF16(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToF16Bits(data[i] ?? 0), true);
  return out;
}

/** ggml's reference Q8_0: d = amax/127, q = round(x/d), scale stored as f16. */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  const blocks = tensorByteSize(GGML_TYPE.Q8_0, data.length) / Q8_0_BLOCK_BYTES;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(data[base + j] ?? 0));
    // Compute in f32 like ggml does, so the rounding of the int8 values matches its quantizer.
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const at = b * Q8_0_BLOCK_BYTES;
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = Math.fround((data[base + j] ?? 0) * id);
      // roundf() rounds halves away from zero; Math.round would round -0.5 up.
      view.setInt8(at + 2 + j, Math.sign(v) * Math.round(Math.abs(v)));
    }
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, elements: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(elements);
  for (let b = 0; b < elements / Q8_0_BLOCK; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    const d = f16BitsToF32(view.getUint16(at, true));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(at + 2 + j);
  }
  return out;
}

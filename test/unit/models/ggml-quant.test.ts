// Unit tests for the tensor encodings: f16 bit conversion (rounding, subnormals, specials) and the
// Q8_0 quantizer's error bound, which is what lets Q8_0 synthetic models stand in for the F32 ones.
import { describe, expect, it } from "vitest";
import {
  GGML_TYPE,
  Q8_0_BLOCK_BYTES,
  decodeTensorBytes,
  dequantizeQ8_0,
  encodeTensorChunk,
  f16BitsToF32,
  f32ToF16Bits,
  quantizeQ8_0,
  tensorByteSize,
} from "../../../models/ggml-quant.js";
import { NormalStream } from "../../../models/prng.js";

describe("f16 conversion", () => {
  it("encodes exact values, limits and specials", () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(0)).toBe(0);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    expect(f32ToF16Bits(2 ** -24)).toBe(1); // smallest subnormal
    expect(f32ToF16Bits(2 ** -26)).toBe(0); // underflows
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400); // smallest normal
  });

  it("rounds to nearest even", () => {
    // 1 + 2^-11 is exactly halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2); // subnormal tie 1.5 -> 2
  });

  it("round-trips every finite half exactly", () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && f32ToF16Bits(f16BitsToF32(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("Q8_0", () => {
  it("stays within half a quantisation step (plus the f16 scale error) of the input", () => {
    const values = new NormalStream(7, 0.5).fill(new Float32Array(32 * 512));
    values[5] = 0; // exact zeros and an outlier block must survive too
    values[40] = 9;
    const bytes = quantizeQ8_0(values);
    expect(bytes.length).toBe(512 * Q8_0_BLOCK_BYTES);
    const back = dequantizeQ8_0(bytes, values.length);
    let worst = 0; // error in units of the block's step amax/127
    for (let b = 0; b < 512; b++) {
      const block = values.subarray(b * 32, b * 32 + 32);
      const step = Math.max(...Array.from(block, Math.abs)) / 127;
      for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs((block[j] ?? 0) - (back[b * 32 + j] ?? 0)) / step);
    }
    // |x - q·d16| <= d/2 + 127·|d - d16|, and the f16 scale is off by at most d·2^-11.
    expect(worst).toBeLessThanOrEqual(0.5 + 127 * 2 ** -11);
    expect(worst).toBeGreaterThan(0.4); // sanity: the data really was quantised
    expect(back[5]).toBe(0);
  });

  it("encodes an all-zero block as zero scale and zero quants", () => {
    expect(Array.from(quantizeQ8_0(new Float32Array(32)))).toEqual(new Array(34).fill(0));
  });

  it("rejects partial blocks and sizes tensors like ggml", () => {
    expect(() => quantizeQ8_0(new Float32Array(31))).toThrow();
    expect(tensorByteSize(GGML_TYPE.Q8_0, 64)).toBe(68);
    expect(tensorByteSize(GGML_TYPE.F16, 64)).toBe(128);
    expect(tensorByteSize(GGML_TYPE.F32, 64)).toBe(256);
  });
});

describe("encodeTensorChunk/decodeTensorBytes", () => {
  it("round-trips F32 exactly and F16 within half precision", () => {
    const values = new NormalStream(3, 1).fill(new Float32Array(256));
    expect(decodeTensorBytes(GGML_TYPE.F32, encodeTensorChunk(GGML_TYPE.F32, values), 256)).toEqual(values);
    const f16 = decodeTensorBytes(GGML_TYPE.F16, encodeTensorChunk(GGML_TYPE.F16, values), 256);
    values.forEach((v, i) => expect(Math.abs(v - (f16[i] ?? 0))).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25));
  });
});

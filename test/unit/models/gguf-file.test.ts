// Round-trip tests for the GGUF writer: every metadata value type and all three tensor types are read
// back by our own reader and by node-llama-cpp's readGgufFileInfo (the parser the engine relies on).
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GGML_TYPE } from "../../../models/ggml-quant.js";
import { type GgufTensorSpec, type GgufValue, readGgufFile, readTensorValues, writeGgufFile } from "../../../models/gguf-file.js";

const METADATA = new Map<string, GgufValue>([
  ["general.architecture", { type: "string", value: "llama" }],
  ["test.u8", { type: "u8", value: 250 }],
  ["test.i8", { type: "i8", value: -120 }],
  ["test.u16", { type: "u16", value: 65000 }],
  ["test.i16", { type: "i16", value: -32000 }],
  ["test.u32", { type: "u32", value: 4_000_000_000 }],
  ["test.i32", { type: "i32", value: -2_000_000_000 }],
  ["test.f32", { type: "f32", value: 0.5 }],
  ["test.f64", { type: "f64", value: Math.PI }],
  ["test.u64", { type: "u64", value: 2n ** 40n }],
  ["test.i64", { type: "i64", value: -(2n ** 40n) }],
  ["test.bool", { type: "bool", value: true }],
  ["test.string", { type: "string", value: "héllo ▁wörld ✓" }],
  ["test.arr_i32", { type: "array", itemType: "i32", value: [1, -2, 3] }],
  ["test.arr_f32", { type: "array", itemType: "f32", value: [0.25, -1.5] }],
  ["test.arr_u64", { type: "array", itemType: "u64", value: [1n, 2n ** 33n] }],
  ["test.arr_bool", { type: "array", itemType: "bool", value: [true, false] }],
  // Big enough to force the header buffer to grow several times.
  ["test.arr_str", { type: "array", itemType: "string", value: Array.from({ length: 20_000 }, (_, i) => `tok${i}`) }],
]);

const ramp = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i % 97) - 48) * scale);

const TENSORS: GgufTensorSpec[] = [
  { name: "a.f32", ne: [3, 5], type: GGML_TYPE.F32, data: () => [ramp(15, 0.1)] }, // 60 bytes: exercises padding
  { name: "b.f16", ne: [64, 2], type: GGML_TYPE.F16, data: () => [ramp(64, 0.01), ramp(64, 0.02)] },
  { name: "c.q8_0", ne: [32, 4], type: GGML_TYPE.Q8_0, data: () => [ramp(128, 0.03)] },
];

describe("GGUF writer round-trip", () => {
  let dir = "";
  let path = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "loom-gguf-test-"));
    path = join(dir, "t.gguf");
    await writeGgufFile(path, METADATA, TENSORS);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("reads back identical metadata and aligned tensor infos with our reader", async () => {
    const file = await readGgufFile(path);
    expect(file.version).toBe(3);
    // f32 values only survive to f32 precision; everything used here is exactly representable.
    expect(file.metadata).toEqual(METADATA);
    expect(file.tensors.map((t) => [t.name, t.ne, t.type])).toEqual(TENSORS.map((t) => [t.name, t.ne, t.type]));
    expect(file.dataOffset % 32).toBe(0);
    for (const t of file.tensors) expect(t.offset % 32).toBe(0);
    expect(file.buffer.length).toBe((await stat(path)).size);
  });

  it("reads back tensor data (F32 exact, F16/Q8_0 within their precision)", async () => {
    const file = await readGgufFile(path);
    expect(readTensorValues(file, file.buffer, "a.f32")).toEqual(ramp(15, 0.1));
    const f16 = readTensorValues(file, file.buffer, "b.f16");
    const f16Expected = [...ramp(64, 0.01), ...ramp(64, 0.02)];
    f16.forEach((v, i) => expect(v).toBeCloseTo(f16Expected[i] ?? NaN, 3));
    const q8 = readTensorValues(file, file.buffer, "c.q8_0");
    const q8Expected = ramp(128, 0.03);
    q8.forEach((v, i) => expect(Math.abs(v - (q8Expected[i] ?? NaN))).toBeLessThan(0.01));
  });

  it("is accepted by node-llama-cpp's GGUF parser", async () => {
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general?.architecture).toBe("llama");
    expect(md.test).toMatchObject({
      u8: 250,
      i8: -120,
      u16: 65000,
      i16: -32000,
      u32: 4_000_000_000,
      i32: -2_000_000_000,
      f32: 0.5,
      bool: true,
      string: "héllo ▁wörld ✓",
      arr_i32: [1, -2, 3],
      arr_f32: [0.25, -1.5],
      arr_bool: [true, false],
    });
    expect(md.test?.f64).toBeCloseTo(Math.PI, 12);
    expect(BigInt(md.test?.u64 as number | bigint)).toBe(2n ** 40n);
    expect((md.test?.arr_str as string[])[19_999]).toBe("tok19999");
    const tensors = info.tensorInfo ?? [];
    expect(tensors.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType])).toEqual(TENSORS.map((t) => [t.name, t.ne, t.type]));
  });

  it("refuses a tensor whose generator yields the wrong number of values", async () => {
    const bad: GgufTensorSpec = { name: "bad", ne: [4, 4], type: GGML_TYPE.F32, data: () => [new Float32Array(15)] };
    await expect(writeGgufFile(join(dir, "bad.gguf"), METADATA, [bad])).rejects.toThrow(/expected 16/);
  });
});

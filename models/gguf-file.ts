// Minimal GGUF v3 reader and streaming writer (spec: ggml/docs/gguf.md).
// The reader parses metadata + tensor infos of a whole in-memory file (vocab-only files are ≤ 8 MB);
// the writer emits the header in one go and then streams each tensor's data chunk by chunk.
import { open, readFile } from "node:fs/promises";
import { type GgmlTypeCode, GGML_TYPE, decodeTensorBytes, encodeTensorChunk, tensorByteSize } from "./ggml-quant.js";

export type GgufNumberTag = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type GgufBigTag = "u64" | "i64";
export type GgufScalarTag = GgufNumberTag | GgufBigTag | "bool" | "string";

/** Values carry their GGUF type explicitly: a JS number alone can't say whether it is a u32 or an f32. */
export type GgufValue =
  | { type: GgufNumberTag; value: number }
  | { type: GgufBigTag; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: GgufNumberTag; value: number[] }
  | { type: "array"; itemType: GgufBigTag; value: bigint[] }
  | { type: "array"; itemType: "bool"; value: boolean[] }
  | { type: "array"; itemType: "string"; value: string[] };

export interface GgufTensorInfo {
  name: string;
  /** ne[0] is the fastest-varying (innermost) dimension, as in ggml. */
  ne: number[];
  type: number;
  /** Offset relative to the start of the tensor-data section. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset of the tensor-data section. */
  dataOffset: number;
}

export interface GgufTensorSpec {
  name: string;
  ne: number[];
  type: GgmlTypeCode;
  /** Yields the values in file order; for Q8_0 every chunk must hold whole 32-value blocks. */
  data: () => Iterable<Float32Array>;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const TAG_CODES: Record<GgufScalarTag | "array", number> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};
const SCALAR_BYTES: Record<Exclude<GgufScalarTag, "string">, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};
const CODE_TAGS = new Map(Object.entries(TAG_CODES).map(([tag, code]) => [code, tag as GgufScalarTag | "array"]));

export const alignUp = (n: number, alignment: number): number => Math.ceil(n / alignment) * alignment;
export const elementCount = (ne: readonly number[]): number => ne.reduce((a, b) => a * b, 1);

/** Growable little-endian byte buffer for the header (the Llama-3 vocab alone is ~400k strings). */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // reserve() may swap in a bigger buffer, so it must run before `this.buf` is read.
  u32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(v, at);
  }
  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.buf.writeBigUInt64LE(BigInt(v), at);
  }
  zeros(n: number): void {
    const at = this.reserve(n);
    this.buf.fill(0, at, this.length);
  }
  string(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    const at = this.reserve(n);
    this.buf.write(s, at, "utf8");
  }
  scalar(tag: GgufScalarTag, v: number | bigint | boolean | string): void {
    if (tag === "string") return this.string(String(v));
    const at = this.reserve(SCALAR_BYTES[tag]);
    const b = this.buf;
    switch (tag) {
      case "u8":
        b.writeUInt8(Number(v), at);
        break;
      case "i8":
        b.writeInt8(Number(v), at);
        break;
      case "u16":
        b.writeUInt16LE(Number(v), at);
        break;
      case "i16":
        b.writeInt16LE(Number(v), at);
        break;
      case "u32":
        b.writeUInt32LE(Number(v), at);
        break;
      case "i32":
        b.writeInt32LE(Number(v), at);
        break;
      case "f32":
        b.writeFloatLE(Number(v), at);
        break;
      case "f64":
        b.writeDoubleLE(Number(v), at);
        break;
      case "u64":
        b.writeBigUInt64LE(BigInt(v), at);
        break;
      case "i64":
        b.writeBigInt64LE(BigInt(v), at);
        break;
      case "bool":
        b.writeUInt8(v === true ? 1 : 0, at);
        break;
    }
  }
  value(v: GgufValue): void {
    this.u32(TAG_CODES[v.type]);
    if (v.type !== "array") return this.scalar(v.type, v.value);
    this.u32(TAG_CODES[v.itemType]);
    this.u64(v.value.length);
    for (const item of v.value) this.scalar(v.itemType, item);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** Serialises everything before the tensor data, padded so the data section starts aligned. */
export function encodeGgufHeader(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorSpec[]): Buffer {
  const sink = new ByteSink();
  sink.u32(MAGIC);
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(metadata.size);
  for (const [key, value] of metadata) {
    sink.string(key);
    sink.value(value);
  }
  let offset = 0;
  for (const t of tensors) {
    sink.string(t.name);
    sink.u32(t.ne.length);
    for (const n of t.ne) sink.u64(n);
    sink.u32(t.type);
    sink.u64(offset);
    offset = alignUp(offset + tensorByteSize(t.type, elementCount(t.ne)), DEFAULT_ALIGNMENT);
  }
  sink.zeros(alignUp(sink.length, DEFAULT_ALIGNMENT) - sink.length);
  return sink.bytes();
}

/** Writes a GGUF v3 file, generating tensor data lazily so only one chunk is in memory at a time. */
export async function writeGgufFile(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorSpec[]): Promise<{ bytes: number }> {
  const handle = await open(path, "w");
  try {
    const header = encodeGgufHeader(metadata, tensors);
    await handle.write(header);
    let written = header.length;
    for (const t of tensors) written += await writeTensorData(handle, t, written);
    return { bytes: written };
  } finally {
    await handle.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof open>>;

async function writeTensorData(handle: FileHandle, t: GgufTensorSpec, position: number): Promise<number> {
  const expected = elementCount(t.ne);
  let seen = 0;
  let bytes = 0;
  for (const chunk of t.data()) {
    seen += chunk.length;
    const encoded = encodeTensorChunk(t.type, chunk);
    await handle.write(encoded, 0, encoded.length, position + bytes);
    bytes += encoded.length;
  }
  if (seen !== expected) throw new Error(`tensor ${t.name}: generated ${seen} values, expected ${expected}`);
  const padding = alignUp(bytes, DEFAULT_ALIGNMENT) - bytes;
  if (padding > 0) await handle.write(new Uint8Array(padding), 0, padding, position + bytes);
  return bytes + padding;
}

/** Sequential little-endian decoder over a whole GGUF file held in memory. */
class Cursor {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64n(): number {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF count/offset too large: ${v}`);
    return Number(v);
  }
  string(): string {
    const n = this.u64n();
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  scalar(tag: GgufScalarTag): number | bigint | boolean | string {
    const b = this.buf;
    const at = this.pos;
    const step = (n: number): number => {
      this.pos += n;
      return at;
    };
    switch (tag) {
      case "u8":
        return b.readUInt8(step(1));
      case "i8":
        return b.readInt8(step(1));
      case "u16":
        return b.readUInt16LE(step(2));
      case "i16":
        return b.readInt16LE(step(2));
      case "u32":
        return b.readUInt32LE(step(4));
      case "i32":
        return b.readInt32LE(step(4));
      case "f32":
        return b.readFloatLE(step(4));
      case "f64":
        return b.readDoubleLE(step(8));
      case "u64":
        return b.readBigUInt64LE(step(8));
      case "i64":
        return b.readBigInt64LE(step(8));
      case "bool":
        return b.readUInt8(step(1)) !== 0;
      case "string":
        return this.string();
    }
  }
  tag(): GgufScalarTag | "array" {
    const code = this.u32();
    const tag = CODE_TAGS.get(code);
    if (tag === undefined) throw new Error(`unknown GGUF value type ${code} at byte ${this.pos - 4}`);
    return tag;
  }
  value(): GgufValue {
    const tag = this.tag();
    if (tag !== "array") return { type: tag, value: this.scalar(tag) } as GgufValue;
    const itemType = this.tag();
    if (itemType === "array") throw new Error("nested GGUF arrays are not supported");
    const n = this.u64n();
    const items: Array<number | bigint | boolean | string> = new Array<number | bigint | boolean | string>(n);
    for (let i = 0; i < n; i++) items[i] = this.scalar(itemType);
    // The union is sound by construction: every item was read with `itemType`.
    return { type: "array", itemType, value: items } as GgufValue;
  }
}

/** Parses header, metadata and tensor infos of a GGUF v2/v3 file. */
export function parseGguf(buf: Buffer): GgufFile {
  const c = new Cursor(buf);
  if (c.u32() !== MAGIC) throw new Error("not a GGUF file (bad magic)");
  const version = c.u32();
  if (version < 2) throw new Error(`unsupported GGUF version ${version}`);
  const tensorCount = c.u64n();
  const kvCount = c.u64n();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) metadata.set(c.string(), c.value());
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    const dims = c.u32();
    const ne = Array.from({ length: dims }, () => c.u64n());
    tensors.push({ name, ne, type: c.u32(), offset: c.u64n() });
  }
  const alignValue = metadata.get("general.alignment");
  const alignment = alignValue?.type === "u32" ? alignValue.value : DEFAULT_ALIGNMENT;
  return { version, metadata, tensors, alignment, dataOffset: alignUp(c.pos, alignment) };
}

export async function readGgufFile(path: string): Promise<GgufFile & { buffer: Buffer }> {
  const buffer = await readFile(path);
  return { ...parseGguf(buffer), buffer };
}

/** Decodes one tensor of a parsed file to f32 (F32, F16 and Q8_0 only). */
export function readTensorValues(file: GgufFile, buffer: Buffer, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no tensor ${name}`);
  if (t.type !== GGML_TYPE.F32 && t.type !== GGML_TYPE.F16 && t.type !== GGML_TYPE.Q8_0) {
    throw new Error(`tensor ${name}: unsupported ggml type ${t.type}`);
  }
  const elements = elementCount(t.ne);
  const start = file.dataOffset + t.offset;
  return decodeTensorBytes(t.type, buffer.subarray(start, start + tensorByteSize(t.type, elements)), elements);
}

/** Convenience constructors so call sites read like `gguf.u32(8192)`. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
};

// Reading a schema's keyword values (counts, bounds, lists, local $ref pointers), each refusal a GrammarError with
// the keyword's JSON pointer. Pure helpers of the JSON-schema compiler.

import { GrammarError } from "./grammar-error.js";
import type { Bound } from "./numeric-range.js";

export type Schema = Readonly<Record<string, unknown>>;

export function isSchemaObject(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function child(path: string, ...keys: (string | number)[]): string {
  return path + keys.map((k) => "/" + String(k).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/** minimum/maximum with exclusive forms (draft 6+ numbers, and draft 4's boolean flags). */
export function bounds(schema: Schema, path: string): { min: Bound | null; max: Bound | null } {
  const num = (key: string): number | null => {
    const v = schema[key];
    if (v === undefined || typeof v === "boolean") return null;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new GrammarError(child(path, key), `\`${key}\` must be a number`);
    return v;
  };
  // Both forms may be given: the tighter one holds (draft 4's boolean flag makes `minimum` itself exclusive).
  const pick = (inclusive: string, exclusive: string, lower: boolean): Bound | null => {
    const excl = num(exclusive);
    const incl = num(inclusive);
    const a: Bound | null = excl === null ? null : { value: excl, exclusive: true };
    const b: Bound | null = incl === null ? null : { value: incl, exclusive: schema[exclusive] === true };
    if (a === null || b === null) return a ?? b;
    if (a.value === b.value) return a;
    return (lower ? a.value > b.value : a.value < b.value) ? a : b;
  };
  return { min: pick("minimum", "exclusiveMinimum", true), max: pick("maximum", "exclusiveMaximum", false) };
}

export function count(schema: Schema, key: string, path: string): number | null {
  const v = schema[key];
  if (v === undefined) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new GrammarError(child(path, key), `\`${key}\` must be a non-negative integer`);
  return v;
}

export function nonEmptyArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new GrammarError(path, "must be a non-empty array");
  return value;
}

export function stringArray(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw new GrammarError(path, "must be an array of strings");
  return value as string[];
}

/** A local JSON pointer ("#", "#/$defs/X") into the document; anything else is refused. */
export function resolvePointer(document: unknown, ref: string, path: string): unknown {
  if (!ref.startsWith("#")) throw new GrammarError(path, `only local $ref ("#/...") is supported, not ${JSON.stringify(ref)}`);
  let node: unknown = document;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      throw new GrammarError(path, `$ref ${JSON.stringify(ref)} is not a valid JSON pointer`);
    }
    node = isSchemaObject(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
    if (node === undefined) throw new GrammarError(path, `$ref ${JSON.stringify(ref)} points at nothing`);
  }
  return node;
}

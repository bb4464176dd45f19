// JSON Schema → GBNF, Loom's own converter (node-llama-cpp's drops anyOf, forces every property and turns
// definitions into "any JSON"; ../shared/facts/stack.md §11). Covers what strict schemas from zod and the SDKs use:
// type (and type lists), enum, const, anyOf/oneOf, allOf of objects, $ref into $defs/definitions (recursion
// included), required vs optional properties in declared order, additionalProperties, nullable, prefixItems/items
// with minItems/maxItems, minLength/maxLength, pattern, format, and numeric bounds. A keyword it cannot enforce is a
// GrammarError naming it, never dropped; annotations (title, description, $schema, default, examples …) are ignored.
// An absent additionalProperties means none (as llama.cpp's converter and strict mode elsewhere).

import { alt, GrammarBuilder, lit, repeat, ruleName } from "./gbnf.js";
import { GrammarError } from "./grammar-error.js";
import { isStringFormat, primitive } from "./json-primitives.js";
import { boundedNumber, integerRange } from "./numeric-range.js";
import { bounds, child, count, isSchemaObject, nonEmptyArray, resolvePointer, stringArray, type Schema } from "./schema-keywords.js";
import { patternToGbnf } from "./regex-grammar.js";

const ANNOTATIONS = new Set([
  "title",
  "description",
  "$schema",
  "$id",
  "$comment",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
  "contentEncoding",
  "contentMediaType",
  "discriminator",
  "strict",
  "$defs",
  "definitions",
]);

const SUPPORTED = new Set([
  "type",
  "enum",
  "const",
  "anyOf",
  "oneOf",
  "allOf",
  "$ref",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "nullable",
]);

const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array"] as const;
type JsonType = (typeof TYPES)[number];

/** Grammar text larger than this is refused: compiling it would cost the engine more than the request is worth. */
export const MAX_GRAMMAR_CHARS = 1_000_000;
const MAX_DEPTH = 64;

/** A whole grammar whose root is one JSON value matching `schema`. */
export function jsonSchemaGrammar(schema: unknown): string {
  const g = new GrammarBuilder();
  const root = new JsonSchemaCompiler(g, schema, "").compile(schema, "");
  return finish(g, root);
}

/** A grammar for any JSON object (response_format json_object). */
export function jsonObjectGrammar(): string {
  const g = new GrammarBuilder();
  return finish(g, primitive(g, "object"));
}

/** A tool's arguments (always a JSON object) as a rule of `g`; `index` keeps each tool's rules apart. */
export function toolArgumentsRule(g: GrammarBuilder, parameters: Readonly<Record<string, unknown>>, index: number): string {
  const schema = { ...parameters, type: "object" };
  return new JsonSchemaCompiler(g, schema, `t${index}-`).compile(schema, "");
}

/** A JSON content value as a rule of `g`: the schema's, or any object when there is none (json_object). */
export function jsonContentRule(g: GrammarBuilder, schema: unknown): string {
  if (schema === null) return primitive(g, "object");
  return new JsonSchemaCompiler(g, schema, "c-").compile(schema, "");
}

export function finish(g: GrammarBuilder, root: string): string {
  if (g.size > MAX_GRAMMAR_CHARS) throw new GrammarError("", `the schema compiles to a grammar larger than ${MAX_GRAMMAR_CHARS} characters`);
  return g.render(root);
}

/** Compiles schemas into rules of one GrammarBuilder; `prefix` keeps the rules of several schemas (tools) apart. */
export class JsonSchemaCompiler {
  private readonly refs = new Map<string, string>();
  private depth = 0;

  constructor(
    private readonly g: GrammarBuilder,
    /** The document `$ref`s resolve in. */
    private readonly document: unknown,
    private readonly prefix: string,
  ) {}

  /** A GBNF expression for one JSON value matching `schema` (at JSON pointer `path`). */
  compile(schema: unknown, path: string): string {
    if (++this.depth > MAX_DEPTH) throw new GrammarError(path, `the schema nests deeper than ${MAX_DEPTH} levels`);
    try {
      return this.compileSchema(schema, path);
    } finally {
      this.depth--;
    }
  }

  private compileSchema(schema: unknown, path: string): string {
    if (schema === true) return primitive(this.g, "value");
    if (schema === false) throw new GrammarError(path, "the schema `false` matches nothing");
    if (!isSchemaObject(schema)) throw new GrammarError(path, "a schema must be an object or a boolean");
    checkKeywords(schema, path);
    if (schema["$ref"] !== undefined) return this.compileRef(schema, path);
    // Through compile(): a merge that leads back to itself ($ref "#" inside allOf) meets the depth limit.
    if (schema["allOf"] !== undefined) return this.compile(this.mergeAllOf(schema, path), path);
    for (const key of ["anyOf", "oneOf"] as const) {
      if (schema[key] === undefined) continue;
      const branches = nonEmptyArray(schema[key], child(path, key));
      const rest = without(schema, key);
      // oneOf is compiled as anyOf: a grammar cannot exclude a value that also matches another branch.
      return alt(branches.map((b, i) => this.compile(hasConstraints(rest) ? mergeSchemas(rest, b, path) : b, child(path, key, i))));
    }
    if (schema["const"] !== undefined) return lit(JSON.stringify(schema["const"]));
    if (schema["enum"] !== undefined) return alt(nonEmptyArray(schema["enum"], child(path, "enum")).map((v) => lit(JSON.stringify(v))));
    const types = typesOf(schema, path);
    return alt(types.map((t) => this.compileTyped(schema, t, path)));
  }

  private compileRef(schema: Schema, path: string): string {
    const ref = schema["$ref"];
    if (typeof ref !== "string") throw new GrammarError(child(path, "$ref"), "`$ref` must be a string");
    const rest = without(schema, "$ref");
    if (hasConstraints(rest)) return this.compile({ allOf: [{ $ref: ref }, rest] }, path);
    const known = this.refs.get(ref);
    if (known !== undefined) return known;
    const target = resolvePointer(this.document, ref, child(path, "$ref"));
    const name = this.g.fresh(this.prefix + ruleName(`ref-${ref.split("/").pop() ?? "root"}`));
    this.refs.set(ref, name);
    this.g.define(name, this.compile(target, ref.slice(1)));
    return name;
  }

  /** allOf of object-like schemas merged into one (properties and required united); anything else is refused. */
  private mergeAllOf(schema: Schema, path: string): Schema {
    const parts = nonEmptyArray(schema["allOf"], child(path, "allOf"));
    let merged: Schema = without(schema, "allOf");
    parts.forEach((part, i) => {
      const p = this.derefForMerge(part, child(path, "allOf", i));
      merged = mergeSchemas(merged, p, child(path, "allOf", i));
    });
    return merged;
  }

  private derefForMerge(part: unknown, path: string): Schema {
    if (!isSchemaObject(part)) throw new GrammarError(path, "allOf entries must be schema objects");
    if (typeof part["$ref"] !== "string") return part;
    const target = resolvePointer(this.document, part["$ref"], child(path, "$ref"));
    if (!isSchemaObject(target)) throw new GrammarError(path, "allOf entries must be schema objects");
    return mergeSchemas(without(part, "$ref"), target, path);
  }

  private compileTyped(schema: Schema, type: JsonType, path: string): string {
    switch (type) {
      case "string":
        return this.compileString(schema, path);
      case "integer":
        return compileInteger(this.g, schema, path);
      case "number":
        return compileNumber(this.g, schema, path);
      case "boolean":
        return primitive(this.g, "boolean");
      case "null":
        return primitive(this.g, "null");
      case "object":
        return this.compileObject(schema, path);
      case "array":
        return this.compileArray(schema, path);
    }
  }

  private compileString(schema: Schema, path: string): string {
    const format = schema["format"];
    const pattern = schema["pattern"];
    if (format !== undefined && pattern !== undefined) throw new GrammarError(path, "`format` together with `pattern` is not supported");
    if (format !== undefined) {
      if (typeof format !== "string" || !isStringFormat(format)) {
        throw new GrammarError(
          child(path, "format"),
          `format ${JSON.stringify(format)} is not supported (supported: date, time, date-time, uuid, email, uri, ipv4)`,
        );
      }
      return `"\\"" ${primitive(this.g, format)} "\\""`;
    }
    if (pattern !== undefined) {
      if (typeof pattern !== "string") throw new GrammarError(child(path, "pattern"), "`pattern` must be a string");
      return `"\\"" ${patternToGbnf(pattern, child(path, "pattern"))} "\\""`;
    }
    const min = count(schema, "minLength", path) ?? 0;
    const max = count(schema, "maxLength", path);
    if (max !== null && max < min) throw new GrammarError(path, "maxLength is below minLength");
    if (min === 0 && max === null) return primitive(this.g, "string");
    return `"\\"" ${repeat(primitive(this.g, "char"), min, max)} "\\""`;
  }

  private compileObject(schema: Schema, path: string): string {
    const props = schema["properties"] ?? {};
    if (!isSchemaObject(props)) throw new GrammarError(child(path, "properties"), "`properties` must be an object");
    const required = stringArray(schema["required"] ?? [], child(path, "required"));
    const additional = schema["additionalProperties"];
    const names = Object.keys(props);
    for (const r of required) {
      if (!names.includes(r) && (additional === undefined || additional === false)) {
        throw new GrammarError(child(path, "required"), `required property ${JSON.stringify(r)} is not in \`properties\` and additionalProperties is off`);
      }
    }
    const members = [...names, ...required.filter((r) => !names.includes(r))].map((name) => ({
      key: name,
      // Own properties only ("constructor" is a property name, not Object.prototype's); a required name without a
      // schema of its own takes additionalProperties'.
      value: this.compile(Object.hasOwn(props, name) ? props[name] : additional === undefined ? true : additional, child(path, "properties", name)),
      required: required.includes(name),
    }));
    const ws = primitive(this.g, "ws");
    const kv = (key: string, value: string): string => `${key} ${ws} ":" ${ws} ${value} ${ws}`;
    const extra =
      additional === undefined || additional === false ? null : kv(primitive(this.g, "string"), this.compile(additional, child(path, "additionalProperties")));
    const base = this.prefix + ruleName(path === "" ? "obj" : `obj-${path.split("/").pop() ?? ""}`);
    // after[i]: members i.. when one was already written (each needs its comma); first[i]: when none was.
    let after = extra === null ? "" : `( "," ${ws} ${extra} )*`;
    let first = extra === null ? "" : `( ${extra} ( "," ${ws} ${extra} )* )?`;
    for (let i = members.length - 1; i >= 0; i--) {
      const m = members[i] as { key: string; value: string; required: boolean };
      const item = kv(lit(JSON.stringify(m.key)), m.value);
      const afterRule = this.g.define(this.g.fresh(`${base}-a${i}`), seqOrEmpty(m.required ? `"," ${ws} ${item}` : `( "," ${ws} ${item} )?`, after));
      const withThis = seqOrEmpty(item, after);
      const firstBody = m.required ? withThis : alt([withThis, first === "" ? '""' : first]);
      first = this.g.define(this.g.fresh(`${base}-f${i}`), firstBody);
      after = afterRule;
    }
    return `"{" ${ws} ${first === "" ? "" : first + " "}"}"`.replace(/ {2,}/g, " ");
  }

  private compileArray(schema: Schema, path: string): string {
    const ws = primitive(this.g, "ws");
    const min = count(schema, "minItems", path) ?? 0;
    const max = count(schema, "maxItems", path);
    if (max !== null && max < min) throw new GrammarError(path, "maxItems is below minItems");
    const prefixItems = schema["prefixItems"];
    const items = schema["items"];
    const sep = `"," ${ws}`;
    if (prefixItems !== undefined) {
      const tuple = nonEmptyArray(prefixItems, child(path, "prefixItems")).map((s, i) => `${this.compile(s, child(path, "prefixItems", i))} ${ws}`);
      // Prefix items beyond minItems may be left out (from the end); maxItems may cut the tuple short.
      const cap = max === null ? tuple.length : Math.min(max, tuple.length);
      const allowMore = items !== undefined && items !== false && cap === tuple.length && (max === null || max > tuple.length);
      if (min > tuple.length && !allowMore) throw new GrammarError(path, "minItems exceeds prefixItems and no further items are allowed");
      let tail = "";
      if (allowMore) {
        const item = this.itemRule(items, child(path, "items"));
        tail = repeat(`${sep} ${item} ${ws}`, Math.max(0, min - tuple.length), max === null ? null : max - tuple.length);
      }
      for (let j = cap - 1; j >= 0; j--) {
        const part = [j > 0 ? sep : "", tuple[j] as string, tail].filter((x) => x !== "").join(" ");
        tail = j >= min ? `( ${part} )?` : part;
      }
      return `"[" ${ws} ${tail} "]"`.replace(/ {2,}/g, " ");
    }
    if (items === false) {
      if (min > 0) throw new GrammarError(path, "minItems > 0 with items: false");
      return `"[" ${ws} "]"`;
    }
    const item = this.itemRule(items ?? true, child(path, "items"));
    if (max === 0) return `"[" ${ws} "]"`;
    const more = repeat(`${sep} ${item} ${ws}`, Math.max(0, min - 1), max === null ? null : max - 1);
    const body = `${item} ${ws} ${more}`;
    return min === 0 ? `"[" ${ws} ( ${body} )? "]"` : `"[" ${ws} ${body} "]"`;
  }

  /** An array's item as a named rule, so a repeated item is written once. */
  private itemRule(items: unknown, path: string): string {
    const expr = this.compile(items, path);
    if (/^[A-Za-z0-9-]+$/.test(expr)) return expr;
    return this.g.define(this.g.fresh(this.prefix + ruleName(`item-${path.split("/").slice(-2, -1)[0] ?? ""}`)), expr);
  }
}

function seqOrEmpty(...parts: string[]): string {
  const s = parts.filter((p) => p !== "").join(" ");
  return s === "" ? '""' : s;
}

function checkKeywords(schema: Schema, path: string): void {
  for (const key of Object.keys(schema)) {
    if (ANNOTATIONS.has(key) || SUPPORTED.has(key) || key.startsWith("x-")) continue;
    throw new GrammarError(child(path, key), `JSON schema keyword ${JSON.stringify(key)} is not supported`);
  }
}

function without(schema: Schema, key: string): Schema {
  const { [key]: _, ...rest } = schema;
  return rest;
}

/** Whether a schema constrains values at all (beyond annotations). */
function hasConstraints(schema: Schema): boolean {
  return Object.keys(schema).some((k) => SUPPORTED.has(k));
}

/** Two object-like schemas as one: properties and required united; a keyword both set differently is refused. */
function mergeSchemas(a: Schema, b: unknown, path: string): Schema {
  if (!isSchemaObject(b)) throw new GrammarError(path, "only schema objects can be combined");
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (ANNOTATIONS.has(key)) continue;
    if (key === "properties") out[key] = { ...(isSchemaObject(a[key]) ? a[key] : {}), ...(isSchemaObject(value) ? value : {}) };
    else if (key === "required") out[key] = [...new Set([...(Array.isArray(a[key]) ? a[key] : []), ...(Array.isArray(value) ? value : [])])];
    else if (out[key] !== undefined && JSON.stringify(out[key]) !== JSON.stringify(value)) {
      throw new GrammarError(child(path, key), `allOf sets ${JSON.stringify(key)} in two different ways; only object schemas can be combined`);
    } else out[key] = value;
  }
  return out;
}

function typesOf(schema: Schema, path: string): JsonType[] {
  const t = schema["type"];
  let types: JsonType[];
  if (t === undefined) types = impliedTypes(schema);
  else {
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0) throw new GrammarError(child(path, "type"), "`type` must not be empty");
    for (const x of list) {
      if (!(TYPES as readonly unknown[]).includes(x)) throw new GrammarError(child(path, "type"), `unknown type ${JSON.stringify(x)}`);
    }
    types = [...new Set(list as JsonType[])];
  }
  if (schema["nullable"] === true && !types.includes("null")) types.push("null");
  // "number" already admits every integer.
  if (types.includes("number")) types = types.filter((x) => x !== "integer");
  return types;
}

/** Without `type`: the types its keywords speak of (a bare {} is any value). */
function impliedTypes(schema: Schema): JsonType[] {
  const has = (...keys: string[]): boolean => keys.some((k) => schema[k] !== undefined);
  const types: JsonType[] = [];
  if (has("properties", "required", "additionalProperties")) types.push("object");
  if (has("items", "prefixItems", "minItems", "maxItems")) types.push("array");
  if (has("minLength", "maxLength", "pattern", "format")) types.push("string");
  if (has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")) types.push("number");
  return types.length > 0 ? types : [...TYPES].filter((t) => t !== "integer");
}

function compileInteger(g: GrammarBuilder, schema: Schema, path: string): string {
  const { min, max } = bounds(schema, path);
  if (min === null && max === null) return primitive(g, "integer");
  const lo = min === null ? null : BigInt(min.exclusive ? Math.floor(min.value) + 1 : Math.ceil(min.value));
  const hi = max === null ? null : BigInt(max.exclusive ? Math.ceil(max.value) - 1 : Math.floor(max.value));
  return integerRange(lo, hi, path);
}

function compileNumber(g: GrammarBuilder, schema: Schema, path: string): string {
  const { min, max } = bounds(schema, path);
  if (min === null && max === null) return primitive(g, "number");
  return boundedNumber(min, max, path);
}

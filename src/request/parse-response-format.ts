// The content format of a request: OpenAI's `response_format` (text, json_object, json_schema) and llama-server's
// `json_schema` and `grammar` (GBNF) body extensions, at most one of them. Schemas are compiled here once so that a
// keyword Loom cannot enforce is a 400 naming it before anything is queued (the worker compiles them again into the
// request's whole grammar); raw GBNF is parsed by llama.cpp in the engine worker (a syntax error is still a 400,
// before a slot is taken).

import { GrammarError } from "../grammar/grammar-error.js";
import { jsonSchemaGrammar } from "../grammar/json-schema-grammar.js";
import type { ContentFormat } from "./generate-request.js";
import { invalid, isPlainObject, present, show, type JsonObject } from "./parse-sampling.js";

/** A GBNF grammar larger than this is refused (llama.cpp parses it once per request). */
export const MAX_GBNF_CHARS = 1_000_000;

const TEXT: ContentFormat = { kind: "text" };

/** The form the content must take (text when nothing constrains it). */
export function parseContentFormat(body: JsonObject): ContentFormat {
  const sources = [fromResponseFormat(body), fromJsonSchemaField(body), fromGrammarField(body)].filter((g) => g !== null);
  if (sources.length > 1) {
    throw invalid("response_format", "Set only one of `response_format` (json_object/json_schema), `json_schema` and `grammar`.");
  }
  return sources[0] ?? TEXT;
}

function json(schema: unknown, param: string): ContentFormat {
  compileSchemaParam(schema, param);
  return { kind: "json", schema };
}

/** Compiles a schema, turning an unenforceable keyword into a 400 that names the field and the schema path. */
export function compileSchemaParam(schema: unknown, param: string, compile: (s: unknown) => string = jsonSchemaGrammar): string {
  try {
    return compile(schema);
  } catch (err) {
    if (!(err instanceof GrammarError)) throw err;
    const where = err.path === "" ? "" : ` (at ${err.path})`;
    throw invalid(param, `\`${param}\` cannot be enforced: ${err.message}${where}.`);
  }
}

function fromResponseFormat(body: JsonObject): ContentFormat | null {
  const format = present(body, "response_format");
  if (format === undefined) return null;
  if (!isPlainObject(format) || typeof format["type"] !== "string") {
    throw invalid("response_format", `\`response_format\` must be an object with a string \`type\`. Given: ${show(format)}`);
  }
  switch (format["type"]) {
    case "text":
      return null;
    case "json_object": {
      // llama-server's extension: json_object with a `schema`.
      const schema = present(format, "schema");
      return schema === undefined ? { kind: "json", schema: null } : json(schema, "response_format.schema");
    }
    case "json_schema":
      return fromJsonSchemaFormat(format);
    default:
      throw invalid("response_format.type", `\`response_format.type\` must be "text", "json_object" or "json_schema". Given: ${show(format["type"])}`);
  }
}

function fromJsonSchemaFormat(format: JsonObject): ContentFormat {
  const spec = present(format, "json_schema");
  if (!isPlainObject(spec)) {
    throw invalid("response_format.json_schema", `\`response_format.json_schema\` must be an object with \`name\` and \`schema\`. Given: ${show(spec)}`);
  }
  const name = present(spec, "name");
  if (name !== undefined && (typeof name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(name))) {
    throw invalid("response_format.json_schema.name", `\`response_format.json_schema.name\` must be 1-64 letters, digits, _ or -. Given: ${show(name)}`);
  }
  for (const key of ["strict"] as const) {
    const v = present(spec, key);
    if (v !== undefined && typeof v !== "boolean")
      throw invalid(`response_format.json_schema.${key}`, `\`response_format.json_schema.${key}\` must be a boolean. Given: ${show(v)}`);
  }
  const description = present(spec, "description");
  if (description !== undefined && typeof description !== "string") {
    throw invalid("response_format.json_schema.description", `\`response_format.json_schema.description\` must be a string. Given: ${show(description)}`);
  }
  // No schema: any JSON value (as OpenAI, where `schema` is optional).
  const schema = present(spec, "schema") ?? true;
  if (schema !== true && !isPlainObject(schema)) {
    throw invalid("response_format.json_schema.schema", `\`response_format.json_schema.schema\` must be a JSON schema object. Given: ${show(schema)}`);
  }
  return json(schema, "response_format.json_schema.schema");
}

function fromJsonSchemaField(body: JsonObject): ContentFormat | null {
  const schema = present(body, "json_schema");
  if (schema === undefined) return null;
  if (!isPlainObject(schema) && typeof schema !== "boolean")
    throw invalid("json_schema", `\`json_schema\` must be a JSON schema object. Given: ${show(schema)}`);
  return json(schema, "json_schema");
}

function fromGrammarField(body: JsonObject): ContentFormat | null {
  const grammar = present(body, "grammar");
  if (grammar === undefined) return null;
  if (typeof grammar !== "string") throw invalid("grammar", `\`grammar\` must be a GBNF string. Given: ${show(grammar)}`);
  if (grammar.trim() === "") return null;
  if (grammar.length > MAX_GBNF_CHARS) throw invalid("grammar", `\`grammar\` may be at most ${MAX_GBNF_CHARS} characters. Given: ${grammar.length}`);
  return { kind: "gbnf", grammar };
}

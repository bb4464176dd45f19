// The JSON building blocks every JSON grammar shares, defined on a GrammarBuilder on first use. Whitespace and number
// digits are bounded: a model whose next token is (nearly) random must still reach the end of the value, so no rule
// lets it emit spaces or digits forever (the cause of "runs to max_tokens on whitespace" in other servers).

import { type GrammarBuilder } from "./gbnf.js";

/** Most characters of one whitespace run between JSON tokens: one space, or a newline and an indent. */
export const MAX_INDENT = 16;
/** Most digits of an integer part, of a fraction and of an exponent (2^53 has 16 digits). */
export const MAX_INT_DIGITS = 16;
export const MAX_FRACTION_DIGITS = 16;

type Primitive =
  | "ws"
  | "char"
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "null"
  | "value"
  | "object"
  | "array"
  | "date"
  | "time"
  | "date-time"
  | "uuid"
  | "email"
  | "uri"
  | "ipv4"
  | "hex";

const BODIES: Readonly<Record<Primitive, string>> = {
  ws: `( " " | "\\n" [ \\t]{0,${MAX_INDENT}} )?`,
  char: `[^"\\\\\\x00-\\x1f\\x7f] | "\\\\" ( ["\\\\/bfnrt] | "u" json-hex{4} )`,
  string: `"\\"" json-char* "\\""`,
  integer: `"-"? ( "0" | [1-9] [0-9]{0,${MAX_INT_DIGITS - 1}} )`,
  number: `json-integer ( "." [0-9]{1,${MAX_FRACTION_DIGITS}} )? ( [eE] [-+]? [0-9]{1,3} )?`,
  boolean: `"true" | "false"`,
  null: `"null"`,
  value: "json-object | json-array | json-string | json-number | json-boolean | json-null",
  object: `"{" json-ws ( json-string json-ws ":" json-ws json-value json-ws ( "," json-ws json-string json-ws ":" json-ws json-value json-ws )* )? "}"`,
  array: `"[" json-ws ( json-value json-ws ( "," json-ws json-value json-ws )* )? "]"`,
  // Every day it allows exists: 31-day months, 30-day months, and February up to the 28th (leap days left out).
  date:
    `[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ` +
    `( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )`,
  time: `( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )`,
  "date-time": `json-date "T" json-time`,
  uuid: 'json-hex{8} "-" json-hex{4} "-" json-hex{4} "-" json-hex{4} "-" json-hex{12}',
  // ajv-formats' email: dot-separated atoms, then at least two dot-separated labels that neither start nor end with "-".
  email: `json-email-atom ( "." json-email-atom ){0,7} "@" ( json-email-label "." ){1,4} json-email-label`,
  // scheme "://" host path: a subset of RFC 3986 that every URI validator accepts.
  uri: `[a-zA-Z] [a-zA-Z0-9+.-]{0,15} "://" [a-zA-Z0-9] [a-zA-Z0-9.-]{0,62} ( "/" [a-zA-Z0-9._~!$&'()*+,;=:@-]{0,32} ){0,8}`,
  ipv4: `json-octet "." json-octet "." json-octet "." json-octet`,
  hex: "[0-9a-fA-F]",
};

/** Helper rules some primitives reference. */
const HELPERS: Readonly<Record<string, string>> = {
  "json-email-atom": "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,32}",
  "json-email-label": "[a-zA-Z0-9] ( [a-zA-Z0-9-]{0,61} [a-zA-Z0-9] )?",
  "json-octet": `"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]`,
};

const DEPENDS: Readonly<Partial<Record<Primitive, readonly string[]>>> = {
  char: ["hex"],
  string: ["char"],
  number: ["integer"],
  value: ["object", "array", "string", "number", "boolean", "null"],
  object: ["ws", "string", "value"],
  array: ["ws", "value"],
  "date-time": ["date", "time"],
  uuid: ["hex"],
  email: ["json-email-atom", "json-email-label"],
  ipv4: ["json-octet"],
};

/** The rule name of a primitive, defining it (and what it references) on first use. */
export function primitive(g: GrammarBuilder, name: Primitive): string {
  const rule = `json-${name}`;
  if (g.has(rule)) return rule;
  g.define(rule, BODIES[name]);
  for (const dep of DEPENDS[name] ?? []) {
    if (dep.startsWith("json-")) {
      if (!g.has(dep)) g.define(dep, HELPERS[dep] as string);
    } else primitive(g, dep as Primitive);
  }
  return rule;
}

/** Formats of `type: "string"` a grammar can enforce. */
export const STRING_FORMATS = ["date", "time", "date-time", "uuid", "email", "uri", "ipv4"] as const;
export type StringFormat = (typeof STRING_FORMATS)[number];

export function isStringFormat(format: string): format is StringFormat {
  return (STRING_FORMATS as readonly string[]).includes(format);
}

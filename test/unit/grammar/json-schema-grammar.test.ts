import { describe, expect, it } from "vitest";
import { jsonObjectGrammar, jsonSchemaGrammar } from "../../../src/grammar/json-schema-grammar.js";
import { GrammarError } from "../../../src/grammar/grammar-error.js";
import { gbnfMatcher } from "../../support/gbnf-matcher.js";

async function accepts(schema: unknown, good: readonly unknown[], bad: readonly string[]): Promise<void> {
  const grammar = jsonSchemaGrammar(schema);
  const match = await gbnfMatcher(grammar);
  for (const value of good) {
    const compact = typeof value === "string" && value.startsWith("RAW:") ? value.slice(4) : JSON.stringify(value);
    expect(match(compact), `${compact} should match\n${grammar}`).toBe(true);
  }
  for (const text of bad) expect(match(text), `${text} should not match\n${grammar}`).toBe(false);
}

function refusal(schema: unknown): GrammarError {
  try {
    jsonSchemaGrammar(schema);
  } catch (err) {
    if (err instanceof GrammarError) return err;
    throw err;
  }
  throw new Error("expected a GrammarError");
}

describe("JSON schema → GBNF (checked with llama.cpp's grammar engine)", () => {
  it("primitives", async () => {
    await accepts({ type: "string" }, ["", "héllo", 'a"b\\c\n'], ["abc", '"a', '"\n"']);
    await accepts({ type: "integer" }, [0, -7, 12345], ["01", "1.5", "-", "1e3"]);
    await accepts({ type: "number" }, [0, -1.25, 3e10, "RAW:1.5e-3"], ["01", ".5", "1."]);
    await accepts({ type: "boolean" }, [true, false], ["True", "1"]);
    await accepts({ type: "null" }, [null], ["nil"]);
    await accepts({ type: ["string", "null"] }, ["x", null], ["1"]);
    await accepts({ type: "string", nullable: true }, ["x", null], ["1"]);
  });

  it("enum and const", async () => {
    await accepts({ enum: ["red", "green", 3, null] }, ["red", "green", 3, null], ['"blue"', "4"]);
    await accepts({ const: { a: [1, "x"] } }, [{ a: [1, "x"] }], ['{"a":[1]}']);
  });

  it("objects: required in order, optional may be left out, no extras unless allowed", async () => {
    const schema = {
      type: "object",
      properties: { a: { type: "integer" }, b: { type: "string" }, c: { type: "boolean" } },
      required: ["a", "c"],
    };
    await accepts(
      schema,
      [{ a: 1, c: true }, { a: 1, b: "x", c: false }, 'RAW:{ "a": 1,\n  "c": true }'],
      ['{"a":1}', '{"c":true,"a":1}', '{"a":1,"c":true,"d":1}', '{"a":1,,"c":true}'],
    );
    await accepts({ type: "object", properties: { a: { type: "integer" } } }, [{}, { a: 2 }], ['{"a":2,}', '{"b":2}']);
    await accepts({ type: "object", additionalProperties: { type: "integer" } }, [{}, { x: 1, y: 2 }], ['{"x":"s"}']);
    await accepts({ type: "object", properties: { a: { type: "integer" } }, additionalProperties: true }, [{ a: 1, z: [null] }], []);
    await accepts({ type: "object", required: ["x"], additionalProperties: { type: "integer" } }, [{ x: 1 }], ['{"x":"s"}', "{}"]);
    await accepts({ type: "object", required: ["constructor"], additionalProperties: true }, [{ constructor: 1 }], ["{}"]);
  });

  it("arrays: items, bounds and tuples", async () => {
    await accepts({ type: "array", items: { type: "integer" } }, [[], [1], [1, 2, 3]], ["[1,]", '["a"]']);
    await accepts(
      { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 3 },
      [
        [1, 2],
        [1, 2, 3],
      ],
      ["[1]", "[1,2,3,4]"],
    );
    await accepts({ type: "array", prefixItems: [{ type: "string" }, { type: "integer" }] }, [["a", 1], ["a"], []], ["[1]", '["a",1,2]']);
    await accepts({ type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], minItems: 2 }, [["a", 1]], ['["a"]']);
    await accepts({ type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], maxItems: 1 }, [["a"], []], ['["a",1]']);
    await accepts(
      { type: "array", prefixItems: [{ type: "string" }], items: { type: "integer" }, minItems: 2 },
      [
        ["a", 1],
        ["a", 1, 2],
      ],
      ['["a"]'],
    );
  });

  it("strings: lengths, formats and patterns", async () => {
    await accepts({ type: "string", minLength: 2, maxLength: 3 }, ["ab", "abc"], ['"a"', '"abcd"']);
    await accepts({ type: "string", format: "date" }, ["2024-02-28", "1999-12-31"], ['"2024-13-01"', '"2024-02-30"', '"2024-1-01"']);
    await accepts({ type: "string", format: "date-time" }, ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00"], ['"2024-01-02 03:04:05"']);
    await accepts({ type: "string", format: "uuid" }, ["123e4567-e89b-12d3-a456-426614174000"], ['"123e4567"']);
    await accepts({ type: "string", format: "email" }, ["a.b@example.com"], ['"a@b"', '"@x.com"']);
    await accepts({ type: "string", pattern: "^[A-Z]{2}-\\d{3}$" }, ["AB-123"], ['"AB-12"', '"ab-123"']);
    await accepts({ type: "string", pattern: "^(cat|dog)s?$" }, ["cat", "dogs"], ['"cow"']);
    await accepts({ type: "string", pattern: 'a"b' }, ['xa"by'], ['"ab"']);
    // A range over `"` and `\` yields their escaped forms, never a raw quote that would end the string.
    await accepts({ type: "string", pattern: "^[ -~]{1,3}$" }, ['a"', "b\\", "~ !"], ['"a"b"', '"\\"']);
    await accepts({ type: "string", pattern: "^[^\\x00-\\x1f]{1,3}$" }, ["abc"], ['"\\u0001"']);
  });

  it("numeric bounds", async () => {
    await accepts({ type: "integer", minimum: -5, maximum: 120 }, [-5, 0, 7, 99, 120], ["-6", "121", "1000"]);
    await accepts({ type: "integer", minimum: 10 }, [10, 11, 99, 12345], ["9", "-1"]);
    await accepts({ type: "integer", exclusiveMinimum: 0, exclusiveMaximum: 10 }, [1, 9], ["0", "10"]);
    await accepts({ type: "number", minimum: 0, maximum: 10 }, [0, 0.5, 9.99, 10, "RAW:10.00"], ["-0.5", "10.5", "11"]);
    await accepts({ type: "number", exclusiveMinimum: 0 }, [0.001, 1, 250.5], ["0", "0.0", "-1"]);
    await accepts({ type: "number", minimum: -2, maximum: -1 }, [-2, -1.5, -1], ["-0.5", "-2.5", "0"]);
    await accepts({ type: "integer", minimum: 10, exclusiveMinimum: 0 }, [10, 11], ["5", "9"]);
  });

  it("anyOf, oneOf, allOf and $ref with recursion", async () => {
    await accepts({ anyOf: [{ type: "string" }, { type: "integer" }] }, ["x", 3], ["true"]);
    await accepts({ oneOf: [{ type: "boolean" }, { type: "null" }] }, [true, null], ["0"]);
    await accepts(
      { allOf: [{ type: "object", properties: { a: { type: "integer" } }, required: ["a"] }, { properties: { b: { type: "string" } } }] },
      [{ a: 1 }, { a: 1, b: "x" }],
      ['{"b":"x"}'],
    );
    const tree = {
      $defs: {
        node: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v", "kids"] },
      },
      $ref: "#/$defs/node",
    };
    await accepts(
      tree,
      [
        { v: 1, kids: [] },
        { v: 1, kids: [{ v: 2, kids: [] }] },
      ],
      ['{"v":1}'],
    );
    await accepts({ definitions: { s: { type: "string" } }, type: "array", items: { $ref: "#/definitions/s" } }, [["a"]], ["[1]"]);
  });

  it("a zod-style strict schema with $schema, titles and nullable anyOf", async () => {
    await accepts(
      {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        title: "Person",
        properties: { name: { type: "string", title: "Name" }, age: { anyOf: [{ type: "integer" }, { type: "null" }] } },
        required: ["name", "age"],
        additionalProperties: false,
      },
      [
        { name: "Ann", age: null },
        { name: "Bo", age: 3 },
      ],
      ['{"name":"Ann"}'],
    );
  });

  it("json_object: any object, no trailing whitespace", async () => {
    const match = await gbnfMatcher(jsonObjectGrammar());
    expect(match('{"a": [1, {"b": null}], "c": "d"}')).toBe(true);
    expect(match("[1]")).toBe(false);
    expect(match("{} ")).toBe(false);
  });

  it("refuses what it cannot enforce, naming the keyword and its path", () => {
    expect(refusal({ type: "object", properties: { a: { type: "string", uniqueItems: true } } }).path).toBe("/properties/a/uniqueItems");
    expect(refusal({ not: { type: "string" } }).message).toMatch(/"not" is not supported/);
    expect(refusal({ type: "string", format: "hostname" }).message).toMatch(/format "hostname"/);
    expect(refusal({ type: "string", pattern: "^(a)\\1$" }).message).toMatch(/backreference/);
    expect(refusal({ type: "number", minimum: 0.5 }).message).toMatch(/integer bounds/);
    expect(refusal({ $ref: "https://example.com/x.json" }).message).toMatch(/local \$ref/);
    expect(refusal({ $ref: "#/$defs/missing" }).message).toMatch(/points at nothing/);
    expect(refusal(false).message).toMatch(/matches nothing/);
    expect(refusal({ $ref: "#/%zz" }).message).toMatch(/not a valid JSON pointer/);
    expect(refusal({ allOf: [{ $ref: "#" }] }).message).toMatch(/nests deeper/);
  });
});

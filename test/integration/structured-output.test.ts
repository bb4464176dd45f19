// Structured outputs against a real server and the tiny model (random weights: any validity comes from the grammar):
// seeded json_schema requests over many schemas all finish `stop` and validate with ajv, eight different schemas in
// one batch each match their own, the SDK's parse() with a zod schema completes, and bad grammars are 400s.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { BadRequestError } from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;
const ajv = new Ajv2020({ strict: false });
addFormats.default(ajv);

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

const str = (max: number): object => ({ type: "string", maxLength: max });

/** Schemas whose every string and array is bounded, so a random model reaches the end of the value. */
const SCHEMAS: Record<string, object> = {
  person: {
    type: "object",
    properties: { name: str(12), age: { type: "integer", minimum: 0, maximum: 120 } },
    required: ["name", "age"],
    additionalProperties: false,
  },
  optional: { type: "object", properties: { a: { type: "boolean" }, b: str(6), c: { type: "null" } }, required: ["a"] },
  enumConst: { type: "object", properties: { color: { enum: ["red", "green", "blue"] }, v: { const: 2 } }, required: ["color", "v"] },
  nullable: { type: "object", properties: { x: { anyOf: [{ type: "integer", minimum: -5, maximum: 5 }, { type: "null" }] } }, required: ["x"] },
  numbers: { type: "object", properties: { p: { type: "number", minimum: 0, maximum: 1 }, q: { type: "number", exclusiveMinimum: 0 } }, required: ["p", "q"] },
  formats: {
    type: "object",
    properties: { day: { type: "string", format: "date" }, id: { type: "string", format: "uuid" }, at: { type: "string", format: "date-time" } },
    required: ["day", "id", "at"],
  },
  pattern: { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]{3}-[0-9]{2,4}$" } }, required: ["code"] },
  tuple: { type: "array", prefixItems: [{ type: "integer", minimum: 0, maximum: 9 }, { enum: ["x", "y"] }], items: false },
  list: { type: "array", items: { type: "integer", minimum: 1, maximum: 3 }, minItems: 1, maxItems: 4 },
  refs: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $defs: {
      point: {
        type: "object",
        properties: { x: { type: "integer", minimum: 0, maximum: 99 }, y: { type: "integer", minimum: 0, maximum: 99 } },
        required: ["x", "y"],
      },
    },
    type: "object",
    properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" } },
    required: ["from", "to"],
  },
  tree: {
    $defs: {
      node: {
        type: "object",
        properties: { v: { enum: [1, 2] }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 1 } },
        required: ["v", "kids"],
      },
    },
    $ref: "#/$defs/node",
  },
};

async function generate(name: string, seed: number): Promise<{ finish: string | null; content: string }> {
  const res = await h.client.chat.completions.create({
    model: TEST_MODEL,
    messages: [{ role: "user", content: `Reply with a ${name}.` }],
    seed,
    max_tokens: 400,
    response_format: { type: "json_schema", json_schema: { name, schema: SCHEMAS[name] as Record<string, unknown>, strict: true } },
  });
  return { finish: res.choices[0]?.finish_reason ?? null, content: res.choices[0]?.message.content ?? "" };
}

function expectValid(name: string, content: string): void {
  const validate = ajv.compile(SCHEMAS[name] as object);
  const value: unknown = JSON.parse(content);
  expect(validate(value), `${name}: ${content}\n${JSON.stringify(validate.errors)}`).toBe(true);
}

describe("response_format json_schema", () => {
  it("8 different schemas in one batch each validate against their own", async () => {
    const names = Object.keys(SCHEMAS).slice(0, 8);
    const results = await Promise.all(names.map((n) => generate(n, 100)));
    results.forEach((r, i) => {
      expect(r.finish).toBe("stop");
      expectValid(names[i] as string, r.content);
    });
  });

  it("50+ seeded requests over 11 schemas all finish `stop` and validate", async () => {
    const jobs = Object.keys(SCHEMAS).flatMap((n) => [1, 2, 3, 4, 5].map((seed) => ({ n, seed })));
    expect(jobs.length).toBeGreaterThanOrEqual(50);
    for (let i = 0; i < jobs.length; i += 8) {
      const batch = jobs.slice(i, i + 8);
      const results = await Promise.all(batch.map((j) => generate(j.n, j.seed)));
      results.forEach((r, k) => {
        const j = batch[k] as { n: string; seed: number };
        expect(r.finish, `${j.n} seed ${j.seed}: ${r.content}`).toBe("stop");
        expectValid(j.n, r.content);
      });
    }
  }, 120_000);

  it("streams the same JSON it returns whole", async () => {
    const params = {
      model: TEST_MODEL,
      messages: [{ role: "user" as const, content: "a person" }],
      seed: 9,
      temperature: 0,
      max_tokens: 200,
      response_format: { type: "json_schema" as const, json_schema: { name: "person", schema: SCHEMAS["person"] as Record<string, unknown> } },
    };
    const whole = await h.client.chat.completions.create(params);
    let text = "";
    for await (const c of await h.client.chat.completions.create({ ...params, stream: true })) text += c.choices[0]?.delta.content ?? "";
    expect(text).toBe(whole.choices[0]?.message.content);
    expectValid("person", text);
  });

  it("json_object ends with one JSON object", async () => {
    const res = await h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: [{ role: "user", content: "json" }],
      seed: 3,
      max_tokens: 4000,
      response_format: { type: "json_object" },
    });
    expect(res.choices[0]?.finish_reason).toBe("stop");
    const value: unknown = JSON.parse(res.choices[0]?.message.content ?? "");
    expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
  });

  it("the SDK's chat.completions.parse() with a strict zod schema", async () => {
    const Answer = z.object({ verdict: z.enum(["yes", "no", "maybe"]), confidence: z.number().int().min(0).max(100), note: z.string().max(10).nullable() });
    const res = await h.client.chat.completions.parse({
      model: TEST_MODEL,
      messages: [{ role: "user", content: "Is it?" }],
      seed: 4,
      max_tokens: 200,
      response_format: zodResponseFormat(Answer, "answer"),
    });
    const parsed = res.choices[0]?.message.parsed;
    expect(parsed).not.toBeNull();
    expect(Answer.parse(parsed)).toEqual(parsed);
  });
});

describe("llama-server's grammar and json_schema fields", () => {
  it("a GBNF grammar bounds the output on chat and legacy completions", async () => {
    for (let seed = 0; seed < 4; seed++) {
      const chat = await h.client.chat.completions.create({
        model: TEST_MODEL,
        messages: [{ role: "user", content: "?" }],
        seed,
        max_tokens: 20,
        grammar: 'root ::= "yes" | "no"',
      } as never);
      expect(["yes", "no"]).toContain((chat as { choices: { message: { content: string } }[] }).choices[0]?.message.content);
      const text = await h.client.completions.create({ model: TEST_MODEL, prompt: "Answer:", seed, max_tokens: 20, json_schema: { enum: [1, 2, 3] } } as never);
      expect(["1", "2", "3"]).toContain((text as { choices: { text: string }[] }).choices[0]?.text);
    }
  });

  it("a GBNF llama.cpp cannot parse, and a schema keyword that cannot be enforced, are 400s naming the field", async () => {
    const bad = h.client.chat.completions.create({ model: TEST_MODEL, messages: [{ role: "user", content: "?" }], grammar: "root ::= (" } as never);
    await expect(bad).rejects.toBeInstanceOf(BadRequestError);
    await expect(bad).rejects.toMatchObject({ param: "grammar" });
    const schema = h.client.chat.completions.create({
      model: TEST_MODEL,
      messages: [{ role: "user", content: "?" }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", patternProperties: { a: {} } } } },
    });
    await expect(schema).rejects.toMatchObject({ status: 400, param: "response_format.json_schema.schema" });
    // The server keeps serving.
    const ok = await h.client.chat.completions.create({ model: TEST_MODEL, messages: [{ role: "user", content: "?" }], max_tokens: 3 });
    expect(ok.choices[0]?.finish_reason).toBe("length");
  });
});

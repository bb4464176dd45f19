// Tool calling against a real server, on synthetic models with real tool-calling chat templates (Qwen 2.5's
// hermes form, Llama 3.1's JSON form on the Llama-3 vocabulary) and Loom's generic fallback (a template that renders
// no tools). Random weights: valid calls come only from the grammar. Checked with the official SDK, runTools() too.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { Ajv } from "ajv";
import type OpenAI from "openai";
import { makeSyntheticModel, TEMPLATES } from "../../models/make-synthetic-model.js";
import { ensureBundleFile, generatedDir } from "../../models/vocab-source.js";
import { templateInput } from "../../src/chat/tool-prompt.js";
import { toolSyntaxOf } from "../../src/chat/tool-syntax.js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;
const ajv = new Ajv({ strict: false });

beforeAll(async () => {
  const hermes = await makeSyntheticModel({ preset: "tiny", template: "qwen2.5" });
  const llama = await makeSyntheticModel({ preset: "tiny", template: "llama3.1", vocab: "llama-bpe" });
  h = await startHarness(["--model", `hermes=${hermes.path}`, "--model", `llama3=${llama.path}`, "--parallel", "4", "--ctx-size", String(4 * 4096)]);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const weatherParams = {
  type: "object",
  properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const addParams = {
  type: "object",
  properties: { a: { type: "integer", minimum: 0, maximum: 999 }, b: { type: "integer", minimum: 0, maximum: 999 } },
  required: ["a", "b"],
};
const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Current weather", parameters: weatherParams, strict: true } },
  { type: "function", function: { name: "add", description: "Add two numbers", parameters: addParams } },
];
const SCHEMA_OF: Record<string, object> = { get_weather: weatherParams, add: addParams };
const MODELS = ["hermes", "llama3", TEST_MODEL];
const ask = [{ role: "user" as const, content: "What is the weather in Paris?" }];

function expectValidCalls(message: OpenAI.ChatCompletionMessage, only?: string): void {
  const calls = message.tool_calls ?? [];
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    if (call.type !== "function") throw new Error("not a function call");
    expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    if (only !== undefined) expect(call.function.name).toBe(only);
    const validate = ajv.compile(SCHEMA_OF[call.function.name] as object);
    let args: unknown;
    expect(() => (args = JSON.parse(call.function.arguments)), call.function.arguments).not.toThrow();
    expect(validate(args), call.function.arguments).toBe(true);
  }
}

describe.each(MODELS)("tool calls on %s", (model) => {
  it("tool_choice required: valid calls, finish_reason tool_calls, content null", async () => {
    for (let seed = 0; seed < 4; seed++) {
      const res = await h.client.chat.completions.create({
        model,
        messages: ask,
        tools: TOOLS,
        tool_choice: "required",
        parallel_tool_calls: false,
        seed,
        max_tokens: 300,
      });
      const choice = res.choices[0] as OpenAI.ChatCompletion.Choice;
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBeNull();
      expect(choice.message.refusal).toBeNull();
      expect(choice.message.tool_calls).toHaveLength(1);
      expectValidCalls(choice.message);
    }
  });

  it("a named tool_choice (object form) calls exactly that tool", async () => {
    for (let seed = 0; seed < 4; seed++) {
      const res = await h.client.chat.completions.create({
        model,
        messages: ask,
        tools: TOOLS,
        tool_choice: { type: "function", function: { name: "add" } },
        seed,
        max_tokens: 300,
      });
      expect(res.choices[0]?.finish_reason).toBe("tool_calls");
      expectValidCalls(res.choices[0]?.message as OpenAI.ChatCompletionMessage, "add");
    }
  });

  it("streamed deltas (index, id, type and name first, then argument fragments) reassemble to the non-streamed call", async () => {
    const params = {
      model,
      messages: ask,
      tools: TOOLS,
      tool_choice: "required" as const,
      parallel_tool_calls: false,
      seed: 11,
      temperature: 0,
      max_tokens: 300,
    };
    const whole = await h.client.chat.completions.create(params);
    const calls: { id?: string; name?: string; arguments: string }[] = [];
    let finish: string | null = null;
    let fragments = 0;
    for await (const chunk of await h.client.chat.completions.create({ ...params, stream: true })) {
      const choice = chunk.choices[0];
      finish = choice?.finish_reason ?? finish;
      for (const d of choice?.delta.tool_calls ?? []) {
        if (d.id !== undefined) {
          expect(d.type).toBe("function");
          expect(d.function?.name).toBeTruthy();
          calls[d.index] = { id: d.id, name: d.function?.name as string, arguments: d.function?.arguments ?? "" };
        } else {
          (calls[d.index] as { arguments: string }).arguments += d.function?.arguments ?? "";
          fragments++;
        }
      }
    }
    expect(finish).toBe("tool_calls");
    expect(fragments).toBeGreaterThan(1);
    const expected = whole.choices[0]?.message.tool_calls?.map((c) => (c.type === "function" ? [c.function.name, c.function.arguments] : [])) ?? [];
    expect(calls.map((c) => [c.name, c.arguments])).toEqual(expected);
  });

  it("auto: free text comes back as content; earlier calls and results are accepted as input", async () => {
    const res = await h.client.chat.completions.create({
      model,
      tools: TOOLS,
      seed: 2,
      max_tokens: 8,
      messages: [
        ...ask,
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","unit":"c"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "21 C, sunny" },
      ],
    });
    expect(["length", "stop", "tool_calls"]).toContain(res.choices[0]?.finish_reason);
    expect(res.usage?.prompt_tokens).toBeGreaterThan(20);
  });
});

describe("tool_choice auto holds a call to its grammar once the reply starts one", () => {
  async function tokenOf(model: string, text: string): Promise<number> {
    const res = await fetch(`${h.url}/tokenize`, { method: "POST", body: JSON.stringify({ model, prompt: text, add_special_tokens: false }) });
    const { tokens } = (await res.json()) as { tokens: number[] };
    expect(tokens).toHaveLength(1);
    return tokens[0] as number;
  }

  it("Llama 3: a reply pushed to open with { is a valid call (without the grammar it would be { to max_tokens)", async () => {
    const brace = await tokenOf("llama3", "{");
    for (let seed = 0; seed < 4; seed++) {
      const res = await h.client.chat.completions.create({
        model: "llama3",
        messages: ask,
        tools: TOOLS,
        seed,
        max_tokens: 300,
        logit_bias: { [brace]: 100 },
      });
      const choice = res.choices[0] as OpenAI.ChatCompletion.Choice;
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBeNull();
      expectValidCalls(choice.message);
    }
  });

  it("free text is untouched: auto's greedy reply equals tool_choice none's (same prompt, no grammar)", async () => {
    const ask1 = { model: "hermes", messages: ask, tools: TOOLS, max_tokens: 40, temperature: 0 } as const;
    const auto = await h.client.chat.completions.create({ ...ask1, tool_choice: "auto" });
    const none = await h.client.chat.completions.create({ ...ask1, tool_choice: "none" });
    expect(auto.usage?.prompt_tokens).toBe(none.usage?.prompt_tokens);
    expect(auto.choices[0]?.message.content).toBe(none.choices[0]?.message.content);
    expect(auto.choices[0]?.finish_reason).toBe(none.choices[0]?.finish_reason);
  });
});

describe("the SDK's runTools()", () => {
  it("runs a named tool: the call's arguments reach the function, which runs once", async () => {
    const seen: unknown[] = [];
    const runner = h.client.chat.completions.runTools({
      model: "hermes",
      messages: ask,
      seed: 5,
      max_tokens: 200,
      tool_choice: { type: "function", function: { name: "get_weather" } },
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Current weather",
            parameters: weatherParams,
            parse: (text: string) => JSON.parse(text) as unknown,
            function: (args: unknown) => {
              seen.push(args);
              return "21 C";
            },
          },
        },
      ],
    });
    await runner.done();
    expect(seen).toHaveLength(1);
    expect(ajv.compile(weatherParams)(seen[0])).toBe(true);
  });
});

describe("templates render tools, calls and results", () => {
  it("Qwen 2.5's own template gets the tools and writes calls and results in its own tags", async () => {
    const src = TEMPLATES["qwen2.5"];
    const file = await ensureBundleFile(src, join(generatedDir(), "templates", src.split("/").pop() as string));
    const template = await readFile(file, "utf8");
    const input = templateInput(
      [
        { role: "user", content: "hi" },
        { role: "assistant", content: "", toolCalls: [{ id: "c", name: "add", arguments: '{"a": 1, "b": 2}' }] },
        { role: "tool", content: "3", toolCallId: "c" },
      ],
      [{ name: "add", description: "sum", parameters: addParams, strict: false }],
      toolSyntaxOf(template),
    );
    const text = new Template(template).render({ ...input, add_generation_prompt: true });
    expect(text).toContain("<tools>");
    expect(text).toContain('"name": "add"');
    expect(text).toContain('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>');
    expect(text).toContain("<tool_response>\n3\n</tool_response>");
  });

  it("a template without tools gets Loom's instructions as a system message", () => {
    const input = templateInput(
      [{ role: "user", content: "hi" }],
      [{ name: "add", description: null, parameters: addParams, strict: false }],
      toolSyntaxOf(null),
    );
    expect(input.tools).toBeUndefined();
    expect(input.messages[0]?.role).toBe("system");
    expect(input.messages[0]?.content).toContain("<tool_call>");
  });
});

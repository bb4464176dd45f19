// Tokenize over gRPC (loom.v1.Generation/Tokenize, a real @grpc/grpc-js client) and HTTP (POST /tokenize, vLLM's
// shape): the ids match what Generate and Chat count as the prompt, BOS can be left out, errors use the shared table.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
type Unary = (req: Msg, meta: Metadata, cb: (err: ServiceError | null, res?: Msg) => void) => void;
interface GenerationClient extends Client {
  Tokenize: Unary;
  Generate: (req: Msg) => ClientReadableStream<Msg>;
  Chat: (req: Msg) => ClientReadableStream<Msg>;
}

let h: Harness;
let c: GenerationClient;

beforeAll(async () => {
  h = await startHarness();
  c = generationClient<GenerationClient>(h.server.grpcPort as number);
});

afterAll(async () => {
  c?.close();
  await h?.close();
});

function tokenize(req: Msg): Promise<{ res: Msg; err: ServiceError | null }> {
  return new Promise((resolve) => c.Tokenize(req, new Metadata(), (err, res) => resolve({ res: res ?? {}, err })));
}

/** prompt_tokens of a one-token generation. */
function promptTokens(call: ClientReadableStream<Msg>): Promise<number> {
  return new Promise((resolve, reject) => {
    call.on("data", (m: Msg) => {
      const f = m["finished"] as Msg | undefined;
      if (f) resolve(Number((f["usage"] as Msg)["prompt_tokens"]));
    });
    call.on("error", reject);
  });
}

async function httpTokenize(body: unknown): Promise<{ status: number; json: Msg }> {
  const res = await fetch(`${h.url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Msg };
}

const MESSAGES = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "hi there" },
];

describe("Tokenize", () => {
  it("tokenizes text as Generate does, chat messages as Chat does, and leaves BOS out on request", async () => {
    const text = "Once upon a time";
    const { res, err } = await tokenize({ model: TEST_MODEL, text, return_token_strs: true });
    expect(err).toBeNull();
    const ids = res["token_ids"] as number[];
    expect(res["count"]).toBe(ids.length);
    expect(res["max_context"]).toBe(4096);
    expect(await promptTokens(c.Generate({ model: TEST_MODEL, text, stopping: { max_tokens: 1 } }))).toBe(ids.length);
    const strs = res["token_strs"] as string[];
    expect(strs.length).toBe(ids.length);
    expect(strs[0]).toBe("<s>");
    expect(strs.join("")).toContain("upon a time");
    const bare = await tokenize({ model: TEST_MODEL, text, add_special_tokens: false });
    expect(bare.res["token_ids"]).toEqual(ids.slice(1));
    expect(bare.res["token_strs"]).toEqual([]);
    const chat = await tokenize({ model: TEST_MODEL, messages: { messages: MESSAGES } });
    expect(chat.err).toBeNull();
    expect(await promptTokens(c.Chat({ model: TEST_MODEL, messages: MESSAGES, stopping: { max_tokens: 1 } }))).toBe(chat.res["count"]);
  });

  it("serves POST /tokenize in vLLM's shape with the same ids", async () => {
    const grpcIds = (await tokenize({ model: TEST_MODEL, text: "Hello world" })).res["token_ids"];
    const text = await httpTokenize({ model: TEST_MODEL, prompt: "Hello world" });
    expect(text.status).toBe(200);
    expect(text.json).toEqual({ count: (grpcIds as number[]).length, max_model_len: 4096, tokens: grpcIds, token_strs: null });
    const chat = await httpTokenize({ model: TEST_MODEL, messages: MESSAGES, return_token_strs: true });
    expect(chat.json["count"]).toBe((await tokenize({ model: TEST_MODEL, messages: { messages: MESSAGES } })).res["count"]);
    expect((chat.json["token_strs"] as string[]).length).toBe(chat.json["count"]);
  });

  it("refuses bad requests with codes from the shared error table", async () => {
    expect((await tokenize({ model: "nope", text: "x" })).err?.code).toBe(status.NOT_FOUND);
    expect((await tokenize({ model: TEST_MODEL })).err?.code).toBe(status.INVALID_ARGUMENT);
    expect((await tokenize({ model: TEST_MODEL, messages: { messages: [] } })).err?.details).toMatch(/messages/);
    const knob = await tokenize({ model: TEST_MODEL, messages: { messages: MESSAGES }, add_special_tokens: true });
    expect([knob.err?.code, knob.err?.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/add_special_tokens/)]);
    const both = await httpTokenize({ model: TEST_MODEL, prompt: "x", messages: MESSAGES });
    expect([both.status, (both.json["error"] as Msg)["param"]]).toEqual([400, "prompt"]);
    const wrongType = await httpTokenize({ model: TEST_MODEL, prompt: 42 });
    expect([wrongType.status, (wrongType.json["error"] as Msg)["param"]]).toEqual([400, "prompt"]);
    expect((await httpTokenize({ model: "nope", prompt: "x" })).status).toBe(404);
  });
});

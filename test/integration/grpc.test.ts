// The gRPC transport with a real @grpc/grpc-js client generated from proto/loom/v1/generation.proto at run time:
// streaming, the same text as HTTP, errors as gRPC status codes, cancel and deadline free the slot, health, auth.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { loadSync } from "@grpc/proto-loader";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
type StreamCall = (req: Msg, meta?: Metadata, opts?: { deadline?: number }) => ClientReadableStream<Msg>;
interface GenerationClient extends Client {
  Generate: StreamCall;
  Chat: StreamCall;
  ListModels: (req: Msg, meta: Metadata, cb: (err: ServiceError | null, res?: Msg) => void) => void;
  Tokenize: (req: Msg, meta: Metadata, cb: (err: ServiceError | null, res?: Msg) => void) => void;
  ChatSession: (meta?: Metadata) => ClientDuplexStream<Msg, Msg>;
}

let h: Harness;
let guarded: Harness;

function client(port: number): GenerationClient {
  return generationClient<GenerationClient>(port);
}

function collect(call: ClientReadableStream<Msg>): Promise<{ messages: Msg[]; error: ServiceError | null }> {
  const messages: Msg[] = [];
  return new Promise((resolve) => {
    call.on("data", (m: Msg) => messages.push(m));
    call.on("error", (error: ServiceError) => resolve({ messages, error }));
    call.on("end", () => resolve({ messages, error: null }));
  });
}

const text = (ms: Msg[]): string => ms.map((m) => ((m["delta"] as Msg | undefined)?.["text"] as string | undefined) ?? "").join("");

beforeAll(async () => {
  h = await startHarness();
  guarded = await startHarness(["--api-key", "sk-grpc"]);
});

afterAll(async () => {
  await h?.close();
  await guarded?.close();
});

describe("gRPC Generation", () => {
  it("streams deltas then one finished message, with the same text as the HTTP API", async () => {
    const c = client(h.server.grpcPort as number);
    const { messages, error } = await collect(
      c.Generate({ model: TEST_MODEL, text: "Once upon a time", sampling: { temperature: 0 }, stopping: { max_tokens: 10 } }),
    );
    expect(error).toBeNull();
    const last = messages[messages.length - 1]?.["finished"] as Msg;
    expect(last["reason"]).toBe("FINISH_REASON_LENGTH");
    expect((last["usage"] as Msg)["completion_tokens"]).toBe(10);
    const http = await h.client.completions.create({ model: TEST_MODEL, prompt: "Once upon a time", max_tokens: 10, temperature: 0 });
    expect(text(messages)).toBe(http.choices[0]?.text);
    c.close();
  });

  it("Chat with tools: required calls stream as tool_call messages (id and name first) and finish TOOL_CALLS", async () => {
    const c = client(h.server.grpcPort as number);
    const parameters = JSON.stringify({ type: "object", properties: { n: { type: "integer", minimum: 0, maximum: 9 } }, required: ["n"] });
    const { messages, error } = await collect(
      c.Chat({
        model: TEST_MODEL,
        messages: [
          { role: "user", content: "pick" },
          { role: "assistant", content: "", tool_calls: [{ id: "call_0", name: "pick", arguments: '{"n":1}' }] },
          { role: "tool", content: "ok", tool_call_id: "call_0" },
        ],
        tools: [{ name: "pick", description: "Pick a digit", parameters }],
        tool_choice: "pick",
        stopping: { max_tokens: 100 },
      }),
    );
    expect(error).toBeNull();
    const calls = messages.filter((m) => m["tool_call"] !== undefined).map((m) => m["tool_call"] as Msg);
    expect(calls[0]?.["name"]).toBe("pick");
    expect(String(calls[0]?.["id"])).toMatch(/^call_/);
    const args = calls.map((t) => String(t["arguments"] ?? "")).join("");
    expect(JSON.parse(args)).toEqual({ n: expect.any(Number) as number });
    expect((messages.at(-1)?.["finished"] as Msg)["reason"]).toBe("FINISH_REASON_TOOL_CALLS");
    c.close();
  });

  it("Generate and Chat take a response_format (JSON schema as text) and a GBNF grammar", async () => {
    const c = client(h.server.grpcPort as number);
    const schema = JSON.stringify({ type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false });
    const chat = await collect(
      c.Chat({
        model: TEST_MODEL,
        messages: [{ role: "user", content: "?" }],
        response_format: { type: "json_schema", json_schema: schema },
        stopping: { max_tokens: 50 },
      }),
    );
    expect(chat.error).toBeNull();
    expect(typeof (JSON.parse(text(chat.messages)) as { ok: unknown }).ok).toBe("boolean");
    const gen = await collect(
      c.Generate({ model: TEST_MODEL, text: "Answer:", response_format: { grammar: 'root ::= "yes" | "no"' }, stopping: { max_tokens: 10 } }),
    );
    expect(["yes", "no"]).toContain(text(gen.messages));
    const bad = await collect(
      c.Chat({ model: TEST_MODEL, messages: [{ role: "user", content: "?" }], response_format: { type: "json_schema", json_schema: "{nope" } }),
    );
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    c.close();
  });

  it("serves Chat and ListModels", async () => {
    const c = client(h.server.grpcPort as number);
    const { messages, error } = await collect(
      c.Chat({ model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], stopping: { max_tokens: 5 }, top_logprobs: 2 }),
    );
    expect(error).toBeNull();
    const deltas = messages.filter((m) => m["delta"] !== undefined).map((m) => m["delta"] as Msg);
    expect(deltas.flatMap((d) => d["logprobs"] as Msg[]).length).toBe(5);
    const models = await new Promise<Msg>((resolve, reject) => c.ListModels({}, new Metadata(), (err, res) => (err ? reject(err) : resolve(res as Msg))));
    expect((models["models"] as Msg[]).map((m) => m["id"])).toEqual([TEST_MODEL]);
    c.close();
  });

  it("maps errors to status codes from the shared table", async () => {
    const c = client(h.server.grpcPort as number);
    const bad = await collect(c.Generate({ model: TEST_MODEL, text: "x", sampling: { temperature: 5 } }));
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/temperature/);
    expect(bad.error?.metadata.get("loom-error-code")).toEqual(["invalid_request"]);
    const missing = await collect(c.Generate({ model: "nope", text: "x" }));
    expect(missing.error?.code).toBe(status.NOT_FOUND);
    expect(missing.error?.metadata.get("loom-error-code")).toEqual(["model_not_found"]);
    const empty = await collect(c.Generate({ model: TEST_MODEL }));
    expect(empty.error?.code).toBe(status.INVALID_ARGUMENT);
    c.close();
  });

  it("frees the slot on client cancel and on deadline, then keeps serving", async () => {
    const c = client(h.server.grpcPort as number);
    const long = { model: TEST_MODEL, text: "tell me everything", stopping: { max_tokens: 3000, ignore_eos: true } };
    const call = c.Generate(long);
    call.on("error", () => {}); // CANCELLED, expected after cancel()
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    call.cancel();
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    const late = await collect(c.Generate(long, new Metadata(), { deadline: Date.now() + 300 }));
    expect(late.error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    const after = await collect(c.Generate({ model: TEST_MODEL, text: "again", stopping: { max_tokens: 3 } }));
    expect(after.error).toBeNull();
    c.close();
  });

  it("answers grpc.health.v1 for the server and each model", async () => {
    const proto = loadSync(healthProtoPath, { keepCase: true, enums: String });
    const Health = (
      loadPackageDefinition(proto) as unknown as {
        grpc: {
          health: { v1: { Health: new (a: string, c: unknown) => Client & { Check: (r: Msg, cb: (e: ServiceError | null, r?: Msg) => void) => void } } };
        };
      }
    ).grpc.health.v1.Health;
    const hc = new Health(`127.0.0.1:${h.server.grpcPort}`, credentials.createInsecure());
    for (const service of ["", TEST_MODEL]) {
      const res = await new Promise<Msg>((resolve, reject) => hc.Check({ service }, (e, r) => (e ? reject(e) : resolve(r as Msg))));
      expect(res["status"]).toBe("SERVING");
    }
    hc.close();
  });

  it("requires the API key as bearer metadata when one is set", async () => {
    const c = client(guarded.server.grpcPort as number);
    const denied = await collect(c.Generate({ model: TEST_MODEL, text: "x", stopping: { max_tokens: 2 } }));
    expect(denied.error?.code).toBe(status.UNAUTHENTICATED);
    const meta = new Metadata();
    meta.set("authorization", "Bearer sk-grpc");
    const ok = await collect(c.Generate({ model: TEST_MODEL, text: "x", stopping: { max_tokens: 2 } }, meta));
    expect(ok.error).toBeNull();
    const tokenize = (m: Metadata): Promise<ServiceError | null> =>
      new Promise((resolve) => c.Tokenize({ model: TEST_MODEL, text: "x" }, m, (err) => resolve(err)));
    expect((await tokenize(new Metadata()))?.code).toBe(status.UNAUTHENTICATED);
    expect(await tokenize(meta)).toBeNull();
    const session = c.ChatSession();
    session.on("error", () => {});
    const refused = await new Promise<StatusObject>((resolve) => session.on("status", resolve));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    c.close();
  });
});

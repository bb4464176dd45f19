// Malformed gRPC input against a real server: raw bytes that are not a valid loom.v1 message (sent through
// @grpc/grpc-js's generic client with a serializer that returns them), well-formed messages with out-of-range
// values, and messages over the size limit. Each gets its status code and the server keeps serving the next call.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, credentials, Metadata, status, type ClientDuplexStream, type ClientReadableStream, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { loadGenerationProto } from "../../src/transport/grpc/grpc-server.js";
import { busySlots, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
type Unary = (req: Msg, meta: Metadata, cb: (err: ServiceError | null, res?: Msg) => void) => void;
interface GenerationClient extends Client {
  Generate: (req: Msg) => ClientReadableStream<Msg>;
  Chat: (req: Msg) => ClientReadableStream<Msg>;
  Tokenize: Unary;
  ChatSession: () => ClientDuplexStream<Msg, Msg>;
}
interface Codec {
  requestSerialize: (m: Msg) => Buffer;
  responseDeserialize: (b: Buffer) => Msg;
}

/** Small, so oversize messages are cheap to make; also the HTTP body limit. */
const LIMIT = 64 * 1024;
let h: Harness;
let c: GenerationClient;
let raw: Client;

beforeAll(async () => {
  h = await startHarness(["--body-limit", String(LIMIT)]);
  c = generationClient<GenerationClient>(h.server.grpcPort as number);
  raw = new Client(`127.0.0.1:${h.server.grpcPort}`, credentials.createInsecure());
});

afterAll(async () => {
  c?.close();
  raw?.close();
  await h?.close();
});

const send = (bytes: Buffer) => (): Buffer => bytes;
const keep = (b: Buffer): Buffer => b;

/** The final status of a call whose request is `bytes` as they are. */
function rawCall(method: "Generate" | "Chat" | "Tokenize" | "ChatSession", bytes: Buffer): Promise<StatusObject> {
  const path = `/loom.v1.Generation/${method}`;
  return new Promise((resolve) => {
    if (method === "Tokenize") {
      const call = raw.makeUnaryRequest(path, send(bytes), keep, Buffer.alloc(0), new Metadata(), {}, () => {});
      call.on("status", resolve);
    } else if (method === "ChatSession") {
      const call = raw.makeBidiStreamRequest(path, send(bytes), keep, new Metadata(), {});
      call.on("data", () => {});
      call.on("error", () => {});
      call.on("status", resolve);
      call.write(Buffer.alloc(0));
    } else {
      const call = raw.makeServerStreamRequest(path, send(bytes), keep, Buffer.alloc(0), new Metadata(), {});
      call.on("data", () => {});
      call.on("error", () => {});
      call.on("status", resolve);
    }
  });
}

function collect(call: ClientReadableStream<Msg>): Promise<{ finished: Msg | null; error: ServiceError | null }> {
  return new Promise((resolve) => {
    let finished: Msg | null = null;
    call.on("data", (m: Msg) => (finished = (m["finished"] as Msg | undefined) ?? finished));
    call.on("error", (error: ServiceError) => resolve({ finished, error }));
    call.on("end", () => resolve({ finished, error: null }));
  });
}

function tokenize(req: Msg): Promise<ServiceError | null> {
  return new Promise((resolve) => c.Tokenize(req, new Metadata(), (err) => resolve(err)));
}

/** The server still answers a normal call, and holds no slot. */
async function stillServing(): Promise<void> {
  const ok = await collect(c.Generate({ model: TEST_MODEL, text: "still there?", stopping: { max_tokens: 2 } }));
  expect(ok.error).toBeNull();
  expect((ok.finished?.["usage"] as Msg)["completion_tokens"]).toBe(2);
  expect(await busySlots(h.url)).toBe(0);
}

describe("gRPC: malformed messages", () => {
  // grpc-js answers a request it cannot deserialize with INTERNAL ("Error deserializing request") before any handler
  // runs. protobufjs is lenient with some wrong wire types: those decode to empty values the validator refuses.
  const cases: readonly [string, "Generate" | "Chat" | "Tokenize" | "ChatSession", number[], number][] = [
    ["ASCII text as the body", "Generate", [...Buffer.from("this is not protobuf")], status.INTERNAL],
    ["an invalid wire type", "Chat", [0x0f], status.INTERNAL],
    ["a truncated varint", "Tokenize", [0x08, 0xff], status.INTERNAL],
    ["a sub-message field sent as a varint", "Generate", [0x28, 0x05], status.INTERNAL],
    ["a stream message that is not protobuf", "ChatSession", [...Buffer.from("this is not protobuf")], status.INTERNAL],
    ["the model field sent as a varint (decodes to an empty model)", "Generate", [0x08, 0x01], status.INVALID_ARGUMENT],
    ["an empty body (every field absent)", "Chat", [], status.INVALID_ARGUMENT],
  ];
  it.each(cases)("%s → its status, then the next call works", async (_name, method, bytes, code) => {
    expect((await rawCall(method, Buffer.from(bytes))).code).toBe(code);
    await stillServing();
  });

  it("answers a ChatSession message that decodes to no action with an error reply; the stream goes on", async () => {
    const { requestSerialize, responseDeserialize } = (loadGenerationProto()["loom.v1.Generation"] as unknown as Record<string, Codec>)["ChatSession"] as Codec;
    const call = raw.makeBidiStreamRequest(
      "/loom.v1.Generation/ChatSession",
      (m: Msg | Buffer) => (Buffer.isBuffer(m) ? m : requestSerialize(m)),
      responseDeserialize,
      new Metadata(),
      {},
    );
    const replies: Msg[] = [];
    call.on("data", (m: Msg) => replies.push(m));
    const ended = new Promise<StatusObject>((resolve) => call.on("status", resolve));
    // JSON is not protobuf, but "{" reads as field 15 (event_id), so protobufjs decodes it to a message with no action.
    call.write(Buffer.from('{"respond":{}}'));
    call.write({ configure: { model: TEST_MODEL, stopping: { max_tokens: 2 } } });
    call.write({ append: { messages: [{ role: "user", content: "hi" }] } });
    call.write({ respond: {} });
    call.end();
    expect((await ended).code).toBe(status.OK);
    expect(replies[0]?.["error"]).toMatchObject({ code: "INVALID_ARGUMENT", param: "action" });
    expect((replies.at(-1)?.["finished"] as Msg)["reason"]).toBe("FINISH_REASON_LENGTH");
  });

  it("refuses well-formed messages with out-of-range values through the shared validator", async () => {
    const generate = async (req: Msg): Promise<ServiceError | null> => (await collect(c.Generate({ model: TEST_MODEL, text: "x", ...req }))).error;
    const chat = async (req: Msg): Promise<ServiceError | null> =>
      (await collect(c.Chat({ model: TEST_MODEL, messages: [{ role: "user", content: "x" }], ...req }))).error;
    const expectations: [Promise<ServiceError | null>, number, RegExp][] = [
      [generate({ stopping: { max_tokens: -1 } }), status.INVALID_ARGUMENT, /max_tokens/],
      [generate({ sampling: { temperature: 5 } }), status.INVALID_ARGUMENT, /temperature/],
      [generate({ sampling: { top_p: 0 } }), status.INVALID_ARGUMENT, /top_p/],
      [generate({ logprobs: 9 }), status.INVALID_ARGUMENT, /logprobs/],
      [generate({ text: undefined, token_ids: { ids: [1, 10_000_000] } }), status.INVALID_ARGUMENT, /vocabulary/],
      [generate({ model: "no-such-model" }), status.NOT_FOUND, /no-such-model/],
      [chat({ messages: [] }), status.INVALID_ARGUMENT, /messages/],
      [chat({ messages: [{ role: "", content: "x" }] }), status.INVALID_ARGUMENT, /role/],
      [chat({ top_logprobs: 21 }), status.INVALID_ARGUMENT, /top_logprobs/],
      [chat({ stopping: { stop: Array.from({ length: 17 }, (_, i) => `s${i}`) } }), status.INVALID_ARGUMENT, /stop/],
    ];
    for (const [pending, code, details] of expectations) {
      const err = await pending;
      expect(err?.code).toBe(code);
      expect(err?.details).toMatch(details);
    }
    await stillServing();
  });

  it("refuses a message over the size limit with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const big = "a".repeat(LIMIT + 1);
    expect(await tokenize({ model: TEST_MODEL, text: "a ".repeat(LIMIT / 4) })).toBeNull(); // under the limit: fine
    expect((await tokenize({ model: TEST_MODEL, text: big }))?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await collect(c.Generate({ model: TEST_MODEL, text: big }))).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    const session = await new Promise<StatusObject>((resolve) => {
      const call = c.ChatSession();
      call.on("data", () => {});
      call.on("error", () => {});
      call.on("status", resolve);
      call.write({ append: { messages: [{ role: "user", content: big }] } });
    });
    expect(session.code).toBe(status.RESOURCE_EXHAUSTED);
    await stillServing();
  });

  it("answers an unknown model name near the size limit with a short NOT_FOUND; the same connection keeps working", async () => {
    const model = "m".repeat(LIMIT - 1024); // the ~100 KB name of the report would pass the default 4 MiB limit
    const generate = (await collect(c.Generate({ model, text: "x" }))).error;
    const tokenized = await tokenize({ model, text: "x" });
    for (const err of [generate, tokenized]) {
      expect(err?.code).toBe(status.NOT_FOUND);
      expect(err?.details.length).toBeLessThan(200);
    }
    await stillServing();
  });
});

// Seeded fuzzing of every transport (a bounded count here; LOOM_FUZZ_COUNT scales it for a long run): HTTP bodies,
// methods, paths and headers; Realtime event sequences and frames; gRPC bytes and mutated messages. After each
// input the server must answer in its transport's error shape, never with a 5xx or INTERNAL bug, never hang; after
// all of them it still serves and holds no slot. A failure prints the seed and the input.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Client, credentials, Metadata, type StatusObject } from "@grpc/grpc-js";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { Fuzz } from "../support/fuzz.js";

const SCALE = Number(process.env.LOOM_FUZZ_COUNT ?? "1");
const SEED = Number(process.env.LOOM_FUZZ_SEED ?? "20261201");
const TIMEOUT_MS = 30_000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness(["--parallel", "8", "--body-limit", String(256 * 1024)]);
});
afterAll(async () => {
  await h?.close();
});

const SAMPLING_KEYS = [
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "seed",
  "stop",
  "n",
  "logprobs",
  "top_logprobs",
  "logit_bias",
  "tools",
  "tool_choice",
  "response_format",
  "max_completion_tokens",
  "min_tokens",
  "ignore_eos",
  "stop_token_ids",
  "presence_penalty",
  "frequency_penalty",
  "repetition_penalty",
  "include_stop_str_in_output",
  "user",
  "metadata",
  "modalities",
  "add_special_tokens",
  "return_token_strs",
  "messages",
  "prompt",
];

/** Generation stays short whatever the mutation did. */
function bounded(body: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  for (const key of ["max_tokens", "max_completion_tokens", "min_tokens"]) {
    if (typeof out[key] === "number" && (out[key] as number) > 8) out[key] = 8;
  }
  if (out["max_tokens"] == null && out["max_completion_tokens"] == null) out["max_tokens"] = 8; // null is "no limit"
  return out;
}

interface Failure {
  readonly input: string;
  readonly why: string;
}

/** An HTTP answer is fine when it is not a 5xx and, as an error, has the OpenAI shape; SSE bodies carry no bug. */
async function checkHttp(res: Response, method: string): Promise<string | null> {
  const text = method === "HEAD" ? "" : await res.text();
  if (res.status >= 500) return `status ${res.status}: ${text.slice(0, 200)}`;
  if (text.includes('"internal_error"') || text.includes('"server_error"')) return `a bug in the body: ${text.slice(0, 200)}`;
  if (res.status >= 400 && method !== "HEAD") {
    try {
      const err = (JSON.parse(text) as { error?: { message?: unknown; type?: unknown } }).error;
      if (typeof err?.message !== "string" || typeof err.type !== "string") return `no OpenAI error shape: ${text.slice(0, 200)}`;
    } catch {
      return `error body is not JSON: ${text.slice(0, 200)}`;
    }
  }
  return null;
}

describe("fuzz: HTTP", () => {
  it("answers mutated bodies on every generation route with 2xx or a 4xx in the OpenAI shape", async () => {
    const f = new Fuzz(SEED);
    const bases: readonly [string, Record<string, unknown>][] = [
      ["/v1/chat/completions", { model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 4 }],
      ["/v1/completions", { model: TEST_MODEL, prompt: "hi", max_tokens: 4 }],
      ["/tokenize", { model: TEST_MODEL, prompt: "hi" }],
    ];
    const failures: Failure[] = [];
    for (let i = 0; i < 300 * SCALE; i++) {
      const [path, base] = f.pick(bases);
      const body = bounded(f.mutate(base, SAMPLING_KEYS));
      const input = `${path} ${JSON.stringify(body).slice(0, 300)}`;
      try {
        const res = await fetch(`${h.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        const why = await checkHttp(res, "POST");
        if (why !== null) failures.push({ input, why });
      } catch (err) {
        failures.push({ input, why: `no answer: ${String(err)}` });
      }
    }
    expect(failures).toEqual([]);
  });

  it("answers odd methods, paths, headers and raw bodies", async () => {
    const f = new Fuzz(SEED + 1);
    const paths = [
      "/v1/chat/completions",
      "/v1/completions",
      "/tokenize",
      "/v1/models",
      "/v1/models/tiny",
      "/v1/models/%zz",
      "/v1/models/%",
      "/v1/status",
      "/health",
      "/ready",
      "/metrics",
      "/v1/realtime",
      "/",
      "//",
      "/v1/../v1/models",
      "/v1/chat/completions?x=%%",
      "/v1/models/" + "a".repeat(3000),
      "/nope",
    ];
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
    const contentTypes = [
      "application/json",
      "text/plain",
      "application/json; charset=latin1",
      "multipart/form-data; boundary=x",
      "",
      "application/x-www-form-urlencoded",
    ];
    const bodies = ["", "{", "[]", "null", "1", '"x"', "{}", '{"model":"tiny"}', "\u0000\u0001", '{"messages":' + "[".repeat(500) + "]".repeat(500) + "}"];
    const failures: Failure[] = [];
    for (let i = 0; i < 150 * SCALE; i++) {
      const method = f.pick(methods);
      const path = f.pick(paths);
      const headers: Record<string, string> = {};
      if (f.chance(0.7)) headers["content-type"] = f.pick(contentTypes);
      if (f.chance(0.3)) headers["authorization"] = f.pick(["Bearer", "Bearer x", "Basic abc", "bearer  ", "x".repeat(2000)]);
      if (f.chance(0.3)) headers["x-request-id"] = f.pick(["", "id-1", "a".repeat(500), "has space", "../../etc"]);
      const body = method === "GET" || method === "HEAD" ? undefined : f.pick(bodies);
      const input = `${method} ${path.slice(0, 80)} ${JSON.stringify(headers).slice(0, 120)} ${String(body).slice(0, 60)}`;
      try {
        const res = await fetch(`${h.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(TIMEOUT_MS) });
        const why = await checkHttp(res, method);
        if (why !== null) failures.push({ input, why });
      } catch (err) {
        failures.push({ input, why: `no answer: ${String(err)}` });
      }
    }
    expect(failures).toEqual([]);
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 10_000)).toBe(true);
  });
});

describe("fuzz: Realtime WebSocket", () => {
  it("answers random event sequences with events, keeps every socket open, and frees every slot on close", async () => {
    const f = new Fuzz(SEED + 2);
    const failures: Failure[] = [];
    for (let c = 0; c < 6 * SCALE; c++) {
      const ws = new WebSocket(`${h.url.replace("http", "ws")}/v1/realtime?model=${TEST_MODEL}`);
      const received: string[] = [];
      ws.on("message", (d) => received.push(String(d)));
      await new Promise((r) => ws.once("open", r));
      const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
      ws.send(JSON.stringify({ type: "session.update", session: { max_output_tokens: 8 } }));
      const sent: string[] = [];
      for (let i = 0; i < 40; i++) {
        const frame = wsFrame(f);
        sent.push(typeof frame === "string" ? frame.slice(0, 200) : `<binary ${frame.length}>`);
        ws.send(frame);
      }
      // Every frame got an answer once a ping round-trips (frames are handled in order).
      await new Promise<void>((resolve) => ws.ping(undefined, undefined, () => resolve()));
      await new Promise((r) => setTimeout(r, 50));
      const bugs = received.filter((e) => e.includes('"internal_error"') || e.includes('"server_error"'));
      if (ws.readyState !== WebSocket.OPEN) failures.push({ input: sent.join(" | "), why: `socket closed: ${await closed}` });
      if (bugs.length > 0) failures.push({ input: sent.join(" | "), why: `bug events: ${bugs.join(" ").slice(0, 300)}` });
      ws.close();
      await closed;
    }
    expect(failures).toEqual([]);
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 10_000)).toBe(true);
  });
});

function wsFrame(f: Fuzz): string | Buffer {
  const r = f.next();
  if (r < 0.05) return Buffer.from(Array.from({ length: f.int(64) }, () => f.int(256)));
  if (r < 0.1) return f.pick(["{", "null", "[]", "1", '"x"', "{}", '{"type":1}', "\ud800"]);
  if (r < 0.15) return JSON.stringify(f.value());
  const events: Record<string, unknown>[] = [
    { type: "session.update", session: { max_output_tokens: 8, temperature: 0.5 } },
    { type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] } },
    { type: "conversation.item.delete", item_id: "item_x" },
    { type: "response.create", response: { max_output_tokens: 4 } },
    { type: "response.cancel" },
    { type: "input_audio_buffer.append", audio: "AAAA" },
  ];
  const base = f.pick(events);
  if (f.chance(0.4)) return JSON.stringify(base);
  const mutated = f.mutate(base, ["event_id", "session", "item", "response", "type"]);
  for (const k of ["session", "response"]) {
    const v = mutated[k];
    if (typeof v === "object" && v !== null && !Array.isArray(v)) mutated[k] = { ...v, max_output_tokens: 4 };
  }
  return JSON.stringify(mutated);
}

describe("fuzz: gRPC", () => {
  it("ends every call with a status (INTERNAL only for undecodable bytes) and keeps serving", async () => {
    const f = new Fuzz(SEED + 3);
    const raw = new Client(`127.0.0.1:${h.server.grpcPort as number}`, credentials.createInsecure());
    const keep = (b: Buffer): Buffer => b;
    const methods = ["Generate", "Chat", "Tokenize", "ListModels", "ChatSession"] as const;
    const failures: Failure[] = [];
    for (let i = 0; i < 200 * SCALE; i++) {
      const method = f.pick(methods);
      const bytes = Buffer.from(Array.from({ length: f.int(80) }, () => (f.chance(0.3) ? f.pick([0x0a, 0x12, 0x1a, 0x08, 0x10]) : f.int(256))));
      const input = `${method} ${bytes.toString("hex")}`;
      const status = await new Promise<StatusObject | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), TIMEOUT_MS);
        const done = (s: StatusObject): void => {
          clearTimeout(timer);
          resolve(s);
        };
        const path = `/loom.v1.Generation/${method}`;
        const deadline = { deadline: Date.now() + TIMEOUT_MS };
        if (method === "Tokenize" || method === "ListModels") {
          raw.makeUnaryRequest(path, keep, keep, bytes, new Metadata(), deadline, () => {}).on("status", done);
        } else if (method === "ChatSession") {
          const call = raw.makeBidiStreamRequest(path, keep, keep, new Metadata(), deadline);
          call.on("data", () => {});
          call.on("error", () => {});
          call.on("status", done);
          call.write(bytes);
          call.end();
        } else {
          const call = raw.makeServerStreamRequest(path, keep, keep, bytes, new Metadata(), deadline);
          call.on("data", () => {});
          call.on("error", () => {});
          call.on("status", done);
        }
      });
      if (status === null) failures.push({ input, why: "no status" });
      else if (status.code === 13 && !/deserializ/i.test(status.details)) failures.push({ input, why: `INTERNAL: ${status.details}` });
    }
    raw.close();
    expect(failures).toEqual([]);
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 10_000)).toBe(true);
    const ok = await h.client.completions.create({ model: TEST_MODEL, prompt: "still there?", max_tokens: 2 });
    expect(ok.usage?.completion_tokens).toBe(2);
  });
});

// Every bad input gets a clear OpenAI-shaped 4xx, takes no slot, and the server keeps serving everyone else.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import OpenAI from "openai";
import { busySlots, engineStatus, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;
let guarded: Harness;

beforeAll(async () => {
  h = await startHarness(["--ctx-size", "16384", "--parallel", "4", "--max-queue", "1"]);
  guarded = await startHarness(["--api-key", "sk-test-1", "--parallel", "2"], "sk-test-1");
});

afterAll(async () => {
  await h?.close();
  await guarded?.close();
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: ErrorBody; headers: Headers }> {
  const res = await fetch(`${h.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, body: (await res.json()) as ErrorBody, headers: res.headers };
}

/**
 * A client that sends its whole body before it reads, as many do: a raw HTTP/1.1 POST of `size` bytes (declared or
 * chunked), then the response as written. A server that closes before the body is in makes this EPIPE.
 */
function sendBody(size: number, chunked: boolean): Promise<{ status: number; body: string; error: Error | null }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(h.url).port), "127.0.0.1");
    let data = "";
    let error: Error | null = null;
    socket.on("data", (d: Buffer) => (data += d.toString()));
    socket.on("error", (e) => (error = e));
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4), error });
    });
    const framing = chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${size}`;
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: loom\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    for (let sent = 0; sent < size; sent += chunk.length)
      socket.write(chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]) : chunk);
    socket.end(chunked ? "0\r\n\r\n" : "");
  });
}

const ok = { model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 3 };

describe("bad requests", () => {
  it("rejects malformed JSON and non-object bodies with 400", async () => {
    const bad = await post("/v1/chat/completions", "{not json");
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe("invalid_request_error");
    expect(bad.body.error.message).toMatch(/not valid JSON/);
    expect((await post("/v1/chat/completions", "[1,2]")).status).toBe(400);
  });

  it.each([
    [{ ...ok, messages: undefined }, "messages"],
    [{ ...ok, temperature: -1 }, "temperature"],
    [{ ...ok, max_tokens: 0 }, "max_tokens"],
    [{ ...ok, n: 129 }, "n"],
    [{ ...ok, top_logprobs: 3 }, "top_logprobs"],
    [{ ...ok, stop: 5 }, "stop"],
    [{ ...ok, messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
  ])("names the bad field in a 400 (%#)", async (body, param) => {
    const res = await post("/v1/chat/completions", JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe(param);
    expect(res.body.error.message.length).toBeGreaterThan(10);
  });

  it("surfaces as BadRequestError in the official SDK", async () => {
    await expect(h.client.chat.completions.create({ model: TEST_MODEL, messages: [], max_tokens: 3 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("rejects a prompt that cannot fit the context before it takes a slot", async () => {
    const long = "lorem ipsum dolor sit amet ".repeat(1500);
    const res = await post("/v1/chat/completions", JSON.stringify({ ...ok, messages: [{ role: "user", content: long }] }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("context_length_exceeded");
    const tooMuch = await post("/v1/chat/completions", JSON.stringify({ ...ok, max_tokens: 5000 }));
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error.param).toBe("max_tokens");
    expect(await busySlots(h.url)).toBe(0);
  });

  it("404s unknown models and paths, 405s wrong methods", async () => {
    const model = await post("/v1/chat/completions", JSON.stringify({ ...ok, model: "missing" }));
    expect(model.status).toBe(404);
    expect(model.body.error.code).toBe("model_not_found");
    expect((await fetch(`${h.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${h.url}/v1/chat/completions`)).status).toBe(405);
  });

  it("413s oversized bodies", async () => {
    const res = await post("/v1/chat/completions", JSON.stringify({ ...ok, pad: "x".repeat(5 * 1024 * 1024) }));
    expect(res.status).toBe(413);
  });

  it("lets a client that sends 16 MiB read the 413 every time, declared or chunked (no EPIPE)", async () => {
    for (let i = 0; i < 5; i++) {
      for (const chunked of [false, true]) {
        const r = await sendBody(16 * 1024 * 1024, chunked);
        expect(r.error).toBeNull();
        expect(r.status).toBe(413);
        expect(r.body).toContain('"code":"payload_too_large"');
      }
    }
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
  });

  it("400s bodies nested deeper than any request needs (they once made the error formatter overflow: 500)", async () => {
    const deep = (n: number): string => `${"[".repeat(n)}${"]".repeat(n)}`;
    for (const body of [`{"model":"tiny","messages":${deep(10_000)}}`, `{"model":"tiny","messages":[],"temperature":${deep(10_000)}}`, deep(100_000)]) {
      const res = await post("/v1/chat/completions", body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/nested more than 128 levels/);
    }
  });

  it("400s a malformed percent escape in a path segment (it once threw: 500)", async () => {
    for (const path of ["/v1/models/%zz", "/v1/models/%", "/v1/models/%E0%A4%A"]) {
      const res = await fetch(`${h.url}${path}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error).toMatchObject({ type: "invalid_request_error", param: "model" });
    }
  });

  it("cuts an unknown model name short in the error it echoes", async () => {
    const res = await post("/v1/chat/completions", JSON.stringify({ ...ok, model: "m".repeat(100_000) }));
    expect(res.status).toBe(404);
    expect(res.body.error.message.length).toBeLessThan(200);
    const get = await fetch(`${h.url}/v1/models/${"m".repeat(10_000)}`);
    expect(((await get.json()) as ErrorBody).error.message.length).toBeLessThan(200);
  });

  it("refuses a prompt longer than any tokenization could fit before tokenizing it", async () => {
    const res = await post("/v1/chat/completions", JSON.stringify({ ...ok, messages: [{ role: "user", content: "<s>".repeat(1_000_000) }] }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("context_length_exceeded");
    expect(res.body.error.message).toMatch(/the prompt is \d+ bytes/);
  });

  it("429s with Retry-After when the queue is full, then recovers", async () => {
    // 4 slots + 1 queued are allowed; the 6th concurrent request is refused.
    const long = { ...ok, max_tokens: 600, ignore_eos: true };
    const held = Array.from({ length: 5 }, () =>
      fetch(`${h.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(long), headers: { "content-type": "application/json" } }),
    );
    const inFlight = async (): Promise<number> => (await engineStatus(h.url)).models[0]?.workers[0]?.inFlight ?? 0;
    expect(await eventually(async () => (await inFlight()) === 5, 10_000)).toBe(true);
    const refused = await post("/v1/chat/completions", JSON.stringify(ok));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    await Promise.all(held.map(async (p) => (await p).text()));
    const after = await h.client.chat.completions.create({ model: TEST_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 3 });
    expect(after.usage?.completion_tokens).toBe(3);
  });

  it("keeps serving after all of the above", async () => {
    const res = await h.client.chat.completions.create({ model: TEST_MODEL, messages: [{ role: "user", content: "still there?" }], max_tokens: 4 });
    expect(res.choices[0]?.finish_reason).toBe("length");
  });
});

describe("API keys", () => {
  it("401s without the key and serves with it; health stays open", async () => {
    const res = await fetch(`${guarded.url}/v1/models`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.code).toBe("invalid_api_key");
    const wrong = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const list = await guarded.client.models.list();
    expect(list.data).toHaveLength(1);
    expect((await fetch(`${guarded.url}/health`)).status).toBe(200);
  });
});

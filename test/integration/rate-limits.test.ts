// API keys from `--api-key-file` through a real server, on every transport: requests per minute and tokens per
// minute per key (429 with Retry-After and x-ratelimit-* headers over HTTP, as the official SDK sees it; an `error`
// event on the Realtime WebSocket; RESOURCE_EXHAUSTED on gRPC), one key's exhaustion never refusing another, and
// each key's cache_salt keeping its KV to itself.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import WebSocket from "ws";
import { Metadata, status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { Conn } from "../support/realtime-clients.js";
import { generationClient } from "../support/grpc-client.js";

const KEYS = {
  twoPerMinute: "sk-two-per-minute-000",
  tokens: "sk-tokens-limited-000",
  other: "sk-other-unlimited-00",
  ws: "sk-websocket-one-0000",
  grpc: "sk-grpc-one-00000000",
  tenantA: "sk-tenant-a-00000000",
  tenantB: "sk-tenant-b-00000000",
};

let h: Harness;

beforeAll(async () => {
  const file = join(mkdtempSync(join(tmpdir(), "loom-keys-")), "keys.json");
  const keys = [
    { key: KEYS.twoPerMinute, name: "two-rpm", rpm: 2 },
    { key: KEYS.tokens, name: "fifty-tpm", tpm: 50 },
    { key: KEYS.other, name: "other" },
    { key: KEYS.ws, name: "ws-one", rpm: 1 },
    { key: KEYS.grpc, name: "grpc-one", rpm: 1 },
    { key: KEYS.tenantA, name: "tenant-a", cache_salt: "a" },
    { key: KEYS.tenantB, name: "tenant-b", cache_salt: "b" },
  ];
  writeFileSync(file, JSON.stringify({ keys }));
  h = await startHarness(["--api-key-file", file, "--parallel", "4", "--ctx-size", String(4 * 2048)]);
});

afterAll(async () => {
  await h?.close();
});

const client = (apiKey: string): OpenAI => new OpenAI({ baseURL: `${h.url}/v1`, apiKey, maxRetries: 0 });
const ask = { model: TEST_MODEL, messages: [{ role: "user" as const, content: "Hello there" }], max_tokens: 4, temperature: 0 };

describe("rate limits per API key", () => {
  it("requests per minute: within the limit responses carry x-ratelimit-*; over it a 429 with Retry-After", async () => {
    const c = client(KEYS.twoPerMinute);
    const first = await c.chat.completions.create(ask).withResponse();
    expect(first.response.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(first.response.headers.get("x-ratelimit-remaining-requests")).toBe("1");
    await c.chat.completions.create(ask);
    const refused = await c.chat.completions.create(ask).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const e = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.code).toBe("rate_limit_exceeded");
    expect(Number(e.headers?.get("retry-after"))).toBeGreaterThanOrEqual(20);
    expect(e.headers?.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(e.message).not.toContain(KEYS.twoPerMinute);
    // Another key is untouched.
    await expect(client(KEYS.other).chat.completions.create(ask)).resolves.toBeDefined();
  });

  it("tokens per minute: the tokens a request used count against the next one", async () => {
    const c = client(KEYS.tokens);
    const r = await c.chat.completions.create({ ...ask, max_tokens: 40 });
    expect((r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0)).toBeGreaterThan(50);
    const refused = (await c.chat.completions.create(ask).catch((err: unknown) => err)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(refused.status).toBe(429);
    expect(refused.message).toContain("tokens per minute");
    expect(refused.headers?.get("x-ratelimit-remaining-tokens")).toBe("0");
  });

  it("Realtime: a response over the key's limit is an error event, and the connection stays open", async () => {
    const ws = new WebSocket(`${h.url.replace("http", "ws")}/v1/realtime?model=${TEST_MODEL}`, { headers: { authorization: `Bearer ${KEYS.ws}` } });
    const conn = new Conn(ws);
    await new Promise((r) => ws.once("open", r));
    conn.say("Hi");
    conn.send({ type: "response.create", response: { max_output_tokens: 3 } });
    await conn.next("response.done");
    const error = conn.next("error");
    conn.send({ type: "response.create", response: { max_output_tokens: 3 } });
    expect(((await error)["error"] as { code: string }).code).toBe("rate_limit_exceeded");
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it("gRPC: a call over the key's limit ends RESOURCE_EXHAUSTED", async () => {
    interface Gen extends Client {
      Generate: (req: Record<string, unknown>, meta: Metadata) => ClientReadableStream<unknown>;
    }
    const c = generationClient<Gen>(h.server.grpcPort as number);
    const meta = new Metadata();
    meta.set("authorization", `Bearer ${KEYS.grpc}`);
    const call = (): Promise<ServiceError | null> =>
      new Promise((resolve) => {
        const s = c.Generate({ model: TEST_MODEL, text: "Hi", stopping: { max_tokens: 2 } }, meta);
        s.on("data", () => {});
        s.on("error", (err: ServiceError) => resolve(err));
        s.on("end", () => resolve(null));
      });
    expect(await call()).toBeNull();
    const refused = await call();
    expect(refused?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toContain("grpc-one");
    c.close();
  });
});

describe("cache_salt per API key", () => {
  it("a key's cached prompt is reused by the same key and never by another", async () => {
    const prompt = { ...ask, messages: [{ role: "user" as const, content: "A question only tenants ask, about their own ledger." }] };
    await client(KEYS.tenantA).chat.completions.create(prompt);
    const again = await client(KEYS.tenantA).chat.completions.create(prompt);
    const other = await client(KEYS.tenantB).chat.completions.create(prompt);
    expect(again.usage?.prompt_tokens_details?.cached_tokens).toBe((again.usage?.prompt_tokens ?? 0) - 1);
    expect(other.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(other.choices[0]?.message.content).toBe(again.choices[0]?.message.content);
  });
});

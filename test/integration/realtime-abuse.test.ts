// Hostile or careless Realtime clients: every client event ends in an `error` event (or a response), never in a
// process exit. Each case runs through a raw `ws` client and the official SDK's OpenAIRealtimeWS; after each the
// socket is still open and the server still serves. Plus refused upgrades in the OpenAI error shape.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { Conn, openSdkRealtime } from "../support/realtime-clients.js";

let h: Harness;
/** One slot, no queue: the second generation in flight is refused with queue_full. */
let tight: Harness;

beforeAll(async () => {
  h = await startHarness();
  tight = await startHarness(["--parallel", "1", "--max-queue", "0"]);
});

afterAll(async () => {
  await h?.close();
  await tight?.close();
});

interface ErrorInfo {
  readonly code: string;
  readonly message: string;
  readonly param: string | null;
}

/** What a test needs of a Realtime client, over either library. */
interface Client {
  send(event: Record<string, unknown>): void;
  nextError(): Promise<ErrorInfo>;
  nextDone(): Promise<{ status: string }>;
  isOpen(): boolean;
  close(): void;
}

async function rawClient(url: string): Promise<Client> {
  const c = await Conn.open(url);
  return {
    send: (e) => c.send(e),
    nextError: async () => (await c.next("error"))["error"] as ErrorInfo,
    nextDone: async () => (await c.next("response.done"))["response"] as { status: string },
    isOpen: () => c.ws.readyState === WebSocket.OPEN,
    close: () => c.ws.close(),
  };
}

async function sdkClient(url: string): Promise<Client> {
  const rt = await openSdkRealtime(url);
  return {
    send: (e) => rt.send(e as never),
    nextError: () =>
      new Promise((resolve) => {
        rt.once("error", (e) => {
          const inner = (e as unknown as { error?: ErrorInfo }).error;
          resolve(inner ?? { code: "", message: e.message, param: null });
        });
      }),
    nextDone: () => new Promise((resolve) => rt.once("response.done", (e) => resolve(e.response as { status: string }))),
    isOpen: () => rt.socket.readyState === WebSocket.OPEN,
    close: () => rt.close(),
  };
}

const say = (text: string): Record<string, unknown> => ({
  type: "conversation.item.create",
  item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
});

async function stillServing(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: TEST_MODEL, prompt: "hi", max_tokens: 2 }),
  });
  expect(res.status).toBe(200);
}

describe.each([
  ["ws", rawClient],
  ["OpenAIRealtimeWS", sdkClient],
] as const)("response.create that cannot start (%s client)", (_name, open) => {
  it("on an empty conversation", async () => {
    const c = await open(h.url);
    c.send({ type: "response.create" });
    expect((await c.nextError()).message).toMatch(/conversation is empty/);
    expect(c.isOpen()).toBe(true);
    c.close();
    await stillServing(h.url);
  });

  it.each([
    [{ temperature: 9 }, "temperature"],
    [{ max_output_tokens: -1 }, "max_tokens"],
    [{ output_modalities: ["audio"] }, "response.output_modalities"],
    [{ model: "no-such-model" }, "response.model"],
  ])("with bad parameters %j", async (params, param) => {
    const c = await open(h.url);
    c.send(say("hello"));
    c.send({ type: "response.create", response: params });
    expect((await c.nextError()).param).toBe(param);
    expect(c.isOpen()).toBe(true);
    c.close();
    await stillServing(h.url);
  });

  it("with `response` that is not an object", async () => {
    const c = await open(h.url);
    c.send(say("hello"));
    c.send({ type: "response.create", response: "now" });
    expect((await c.nextError()).param).toBe("response");
    c.close();
  });

  it("while a response is running (which still finishes)", async () => {
    const c = await open(h.url);
    c.send(say("hello"));
    const done = c.nextDone();
    c.send({ type: "response.create", response: { max_output_tokens: 40 } });
    c.send({ type: "response.create" });
    expect((await c.nextError()).message).toMatch(/already in progress/);
    expect((await done).status).toBe("incomplete");
    c.close();
  });

  it("when the queue is full", async () => {
    const body = { model: TEST_MODEL, prompt: "hold the slot", max_tokens: 3000, ignore_eos: true, stream: true };
    const ac = new AbortController();
    const holder = await fetch(`${tight.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: ac.signal,
    });
    const c = await open(tight.url);
    c.send(say("hello"));
    c.send({ type: "response.create" });
    expect((await c.nextError()).code).toBe("queue_full");
    expect(c.isOpen()).toBe(true);
    c.close();
    ac.abort();
    await holder.body?.cancel().catch(() => {});
  });
});

describe("response.create during drain", () => {
  it("is refused with an error event, not a crash", async () => {
    const d = await startHarness(["--parallel", "2"]);
    const c = await rawClient(d.url);
    c.send(say("hello"));
    // Keep the drain going with a long stream, then ask for a response on the open socket.
    const ac = new AbortController();
    const body = { model: TEST_MODEL, prompt: "keep draining", max_tokens: 3000, ignore_eos: true, stream: true };
    const holder = await fetch(`${d.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: ac.signal,
    });
    const closing = d.server.close(3_000);
    c.send({ type: "response.create" });
    expect((await c.nextError()).code).toBe("unavailable");
    ac.abort();
    await holder.body?.cancel().catch(() => {});
    await closing;
  });
});

describe("refused upgrades", () => {
  async function upgrade(path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${h.url.replace("http", "ws")}${path}`, { headers });
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      });
      ws.once("open", () => reject(new Error("upgrade was accepted")));
      ws.once("error", () => {});
    });
  }

  it("to an API path that is not the Realtime endpoint: 404 in the OpenAI error shape", async () => {
    const r = await upgrade("/v1/chat/completions");
    expect(r.status).toBe(404);
    expect(r.type).toBe("application/json");
    expect((JSON.parse(r.body) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "not_found",
      message: expect.stringMatching(/\/v1\/realtime/),
    });
  });

  it("for an unknown model, with the name cut short", async () => {
    const r = await upgrade(`/v1/realtime?model=${"m".repeat(8_000)}`);
    expect(r.status).toBe(404);
    const err = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe("model_not_found");
    expect(err.message.length).toBeLessThan(200);
  });
});

describe("frames nested too deep", () => {
  it("get an error event and the socket stays open", async () => {
    const c = await Conn.open(h.url);
    c.ws.send(`{"type":"session.update","session":{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`);
    expect(((await c.next("error"))["error"] as ErrorInfo).message).toMatch(/nested more than/);
    c.ws.send(`{"type":"conversation.item.create","item":${"[".repeat(10_000)}${"]".repeat(10_000)}}`);
    expect(((await c.next("error"))["error"] as ErrorInfo).message).toMatch(/nested more than/);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });
});

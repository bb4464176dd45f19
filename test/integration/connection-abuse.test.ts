// Connection abuse on the HTTP port, with raw sockets: slowloris headers and bodies are cut at --headers-timeout /
// --request-read-timeout (408, then the connection closes); connections beyond --max-connections are closed as they
// arrive while the server keeps answering once there is room; a client that never reads its stream holds only its
// own socket (backpressure), and its slot is freed when the generation ends; a stream outlives the read timeouts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;
let port: number;

beforeAll(async () => {
  h = await startHarness(["--headers-timeout", "1", "--request-read-timeout", "2", "--max-connections", "300", "--parallel", "4"]);
  port = Number(new URL(h.url).port);
});
afterAll(async () => {
  await h?.close();
});

interface Watched {
  readonly socket: Socket;
  readonly received: () => string;
  /** ms from `since` until the server closed the connection. */
  readonly closed: Promise<number>;
}

function open(since = Date.now()): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (d) => (data += d.toString()));
    const closed = new Promise<number>((r) => socket.once("close", () => r(Date.now() - since)));
    socket.once("error", () => {}); // a reset is also a close
    socket.once("connect", () => resolve({ socket, received: () => data, closed }));
    socket.once("error", reject);
  });
}

describe("slow clients", () => {
  it("headers trickled slower than --headers-timeout get a 408 and the connection closes", async () => {
    const t0 = Date.now();
    const c = await open(t0);
    c.socket.write("POST /v1/completions HTTP/1.1\r\nHost: loom\r\n");
    const drip = setInterval(() => c.socket.writable && c.socket.write("X-Drip: 1\r\n"), 200);
    const ms = await c.closed;
    clearInterval(drip);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(3_500);
  });

  it("a body trickled slower than --request-read-timeout gets a 408 and the connection closes", async () => {
    const t0 = Date.now();
    const c = await open(t0);
    const body = JSON.stringify({ model: TEST_MODEL, prompt: "hi", max_tokens: 2 });
    c.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: loom\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let i = 0;
    const drip = setInterval(() => c.socket.writable && i < body.length - 1 && c.socket.write(body[i++] as string), 200);
    const ms = await c.closed;
    clearInterval(drip);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeGreaterThanOrEqual(1_900);
    expect(ms).toBeLessThan(4_500);
  });

  it("a streamed response outlives both read timeouts", async () => {
    const stream = await h.client.completions.create({
      model: TEST_MODEL,
      prompt: "go",
      max_tokens: 10_000,
      stream: true,
      ...({ ignore_eos: true } as object),
    });
    const t0 = Date.now();
    let chunks = 0;
    for await (const _ of stream) {
      chunks++;
      if (Date.now() - t0 > 3_000) break;
    }
    expect(chunks).toBeGreaterThan(10);
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 5_000)).toBe(true);
  });
});

describe("many connections", () => {
  it("closes connections beyond --max-connections on arrival and serves again once there is room", async () => {
    const sockets = await Promise.all(Array.from({ length: 360 }, () => open()));
    // The server closes what is over its cap at once (the rest it closes too, at the headers timeout: idle).
    const early = await Promise.all(
      sockets.map((s) => Promise.race([s.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))])),
    );
    const dropped = early.filter(Boolean).length;
    expect(dropped).toBeGreaterThanOrEqual(50);
    // Idle connections that never send a request end at --headers-timeout: nothing lingers.
    const all = await Promise.all(sockets.map((s) => s.closed));
    expect(Math.max(...all)).toBeLessThan(4_000);
    const res = await h.client.completions.create({ model: TEST_MODEL, prompt: "hi", max_tokens: 2 });
    expect(res.usage?.completion_tokens).toBe(2);
  }, 30_000);
});

describe("a reader that never reads", () => {
  it("holds only its own socket: others are served, and its slot frees when its generation ends", async () => {
    const c = await open();
    c.socket.pause(); // never read: the kernel buffers fill, the server's writes see backpressure
    const body = JSON.stringify({ model: TEST_MODEL, prompt: "go", max_tokens: 800, ignore_eos: true, stream: true, logprobs: 5 });
    c.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: loom\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(await eventually(async () => (await busySlots(h.url)) > 0, 5_000)).toBe(true);
    const other = await h.client.completions.create({ model: TEST_MODEL, prompt: "hi", max_tokens: 3 });
    expect(other.usage?.completion_tokens).toBe(3);
    expect(await eventually(async () => (await busySlots(h.url)) === 0, 30_000)).toBe(true);
    c.socket.destroy();
  }, 40_000);
});

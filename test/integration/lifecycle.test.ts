// Request deadlines and graceful shutdown against a real server.

import { afterAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { status, type Client } from "@grpc/grpc-js";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";
import { Conn } from "../support/realtime-clients.js";

const open: Harness[] = [];
afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
});

async function harness(flags: string[]): Promise<Harness> {
  const h = await startHarness(flags);
  open.push(h);
  return h;
}

const long = {
  model: TEST_MODEL,
  messages: [{ role: "user" as const, content: "go on" }],
  max_tokens: 4000,
  ...({ ignore_eos: true } as Record<string, unknown>),
};

describe("deadlines", () => {
  it("ends an overdue request with 504 (or an error event mid-stream) and frees its slot", async () => {
    const h = await harness(["--timeout", "0.4"]);
    const err = await h.client.chat.completions.create(long).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("deadline_exceeded");

    const stream = await h.client.chat.completions.create({ ...long, stream: true });
    let chunks = 0;
    const failure = await (async () => {
      for await (const _c of stream) chunks++;
    })().catch((e: unknown) => e);
    expect(chunks).toBeGreaterThan(1);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(String((failure as Error).message)).toMatch(/deadline/);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
  });
});

describe("graceful shutdown", () => {
  it("lets in-flight streams finish, refuses new work with 503, then stops", async () => {
    const h = await harness([]);
    const stream = await h.client.chat.completions.create({ ...long, max_tokens: 400, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const closing = h.server.close(30_000);
    const refused = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...long, max_tokens: 2 }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await fetch(`${h.url}/ready`)).status).toBe(503);
    let finish: string | null | undefined;
    for (let r = await it.next(); r.done !== true; r = await it.next()) finish = r.value.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe("length");
    await closing;
    await expect(fetch(`${h.url}/health`)).rejects.toThrow();
  });
});

describe("the drain limit", () => {
  it("ends streams still running when it passes with an error in each transport's form, then stops", async () => {
    const h = await harness([]);
    const sse = await h.client.chat.completions.create({ ...long, stream: true });
    const sseChunks = sse[Symbol.asyncIterator]();
    await sseChunks.next();

    const ws = await Conn.open(h.url);
    ws.say("go on");
    ws.send({ type: "response.create", response: { max_output_tokens: 4000 } });
    await ws.next("response.output_text.delta");
    const wsDone = ws.next("response.done");

    const grpc = generationClient<Client & { Generate: (req: Record<string, unknown>) => ClientReadableStream<unknown> }>(h.server.grpcPort as number);
    const call = grpc.Generate({ model: TEST_MODEL, text: "go on", stopping: { max_tokens: 4000, ignore_eos: true } });
    const grpcError = new Promise<ServiceError | null>((resolve) => {
      call.on("error", (e: ServiceError) => resolve(e));
      call.on("end", () => resolve(null));
    });
    await new Promise((resolve) => call.once("data", resolve));

    const started = Date.now();
    await h.server.close(500);
    const tookMs = Date.now() - started;

    // SSE: an error event (the SDK raises it), never a silent end that reads like completion.
    const sseFailure = await (async () => {
      for (let r = await sseChunks.next(); r.done !== true; r = await sseChunks.next());
    })().catch((e: unknown) => e);
    expect(sseFailure).toBeInstanceOf(OpenAI.APIError);
    expect(String((sseFailure as Error).message)).toMatch(/shut down before this request finished/);
    // Realtime: response.done with status failed and the error.
    const done = (await wsDone)["response"] as { status: string; status_details: { error: { code: string } } };
    expect(done.status).toBe("failed");
    expect(done.status_details.error.code).toBe("unavailable");
    // gRPC: UNAVAILABLE.
    expect((await grpcError)?.code).toBe(status.UNAVAILABLE);
    grpc.close();
    // The drain limit plus the stop grace bounds shutdown.
    expect(tookMs).toBeLessThan(500 + 1_500);
  });
});

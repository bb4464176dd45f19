// Engine processes (the default --engine-isolation): one model's engine process killed mid-generation, with SIGKILL
// and then the other model's with SIGSEGV (real signals to the real llama.cpp process). The server survives; that
// model's requests fail within 1 s with engine_failure on every transport (HTTP, SSE, WebSocket, gRPC); the other
// model's stream finishes untouched; /ready and gRPC health turn NOT_SERVING for it and back; the engine restarts
// with a new pid and serves. The recovery time is printed (and shown in /v1/status).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { credentials, loadPackageDefinition, Metadata, status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { engineStatus, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";
import { Conn } from "../support/realtime-clients.js";
import { ensureDefaultModel } from "../../models/make-synthetic-model.js";

const OTHER = "other";
type Msg = Record<string, unknown>;
type GenClient = Client & { Generate: (req: Msg, meta?: Metadata) => ClientReadableStream<Msg> };
type HealthClient = Client & { Check: (r: Msg, cb: (e: ServiceError | null, r?: Msg) => void) => void };

let h: Harness;
let grpc: GenClient;
let health: HealthClient;

beforeAll(async () => {
  const path = await ensureDefaultModel();
  h = await startHarness(["--model", `${OTHER}=${path}`, "--parallel", "8", "--ctx-size", String(8 * 4096)]);
  grpc = generationClient<GenClient>(h.server.grpcPort as number);
  const proto = loadSync(healthProtoPath, { keepCase: true, enums: String });
  const Health = (loadPackageDefinition(proto) as unknown as { grpc: { health: { v1: { Health: new (a: string, c: unknown) => HealthClient } } } }).grpc.health
    .v1.Health;
  health = new Health(`127.0.0.1:${h.server.grpcPort}`, credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  grpc?.close();
  health?.close();
  await h?.close();
});

/** How one in-flight request ended: its error code as its transport carries it, and when (ms since epoch). */
interface Ending {
  readonly transport: string;
  readonly code: string | null;
  readonly at: number;
}

/** A request streaming on `model` over each transport; `started` resolves once each has produced output. */
function inFlightOn(model: string): { started: Promise<void>; ended: Promise<Ending[]> } {
  const long = { max_tokens: 4000, ignore_eos: true } as Record<string, unknown>;
  const messages = [{ role: "user" as const, content: "tell a long story" }];
  const starts: Promise<void>[] = [];
  const ends: Promise<Ending>[] = [];
  const track = (transport: string, run: (begun: () => void) => Promise<string | null>): void => {
    let begun: () => void = () => {};
    starts.push(new Promise((r) => (begun = r)));
    ends.push(run(begun).then((code) => ({ transport, code, at: Date.now() })));
  };
  track("sse", async (begun) => {
    try {
      const stream = await h.client.chat.completions.create({ model, messages, stream: true, ...long });
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) begun();
      return "finished";
    } catch (err) {
      return err instanceof OpenAI.APIError ? String(err.code ?? (err.error as { code?: string } | undefined)?.code) : String(err);
    }
  });
  track("http", async (begun) => {
    const res = h.client.chat.completions.create({ model, messages, ...long });
    begun(); // a non-streamed request shows nothing until it ends; the others show the engine is decoding it
    return res.then(
      () => "finished",
      (err: unknown) => (err instanceof OpenAI.APIError ? String(err.code) : String(err)),
    );
  });
  track("ws", async (begun) => {
    const c = await Conn.open(h.url, model);
    c.say("tell a long story");
    const delta = c.next("response.output_text.delta").then(() => begun());
    const done = c.next("response.done");
    c.send({ type: "response.create", response: { max_output_tokens: 4000 } });
    await delta;
    const r = (await done)["response"] as { status: string; status_details?: { error?: { code?: string } } };
    c.ws.close();
    return r.status === "failed" ? String(r.status_details?.error?.code) : r.status;
  });
  track("grpc", (begun) => {
    const call = grpc.Generate({ model, text: "tell a long story", stopping: { max_tokens: 4000, ignore_eos: true } });
    return new Promise((resolve) => {
      call.on("data", () => begun());
      call.on("error", (e: ServiceError) => resolve(e.code === status.INTERNAL ? String(e.metadata.get("loom-error-code")[0]) : `grpc ${e.code}`));
      call.on("end", () => resolve("finished"));
    });
  });
  return { started: Promise.all(starts).then(() => undefined), ended: Promise.all(ends) };
}

async function healthOf(service: string): Promise<string> {
  const res = await new Promise<Msg>((resolve, reject) => health.Check({ service }, (e, r) => (e ? reject(e) : resolve(r as Msg))));
  return String(res["status"]);
}

/** One sample's value from /metrics (the series named with its labels), NaN when absent. */
async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

async function hostOf(model: string): Promise<{ pid: number; restarts: number; recoveryMs: number | null; signal: string | null; state: string }> {
  const w = (await engineStatus(h.url)).models.find((m) => m.id === model)?.workers[0];
  if (w === undefined) throw new Error(`no engine for ${model}`);
  return { pid: w.host.pid as number, restarts: w.host.restarts, recoveryMs: w.host.lastRecoveryMs, signal: w.host.lastExit?.signal ?? null, state: w.state };
}

async function crashAndRecover(victim: string, survivor: string, signal: NodeJS.Signals, restartsBefore: number): Promise<void> {
  const before = await hostOf(victim);
  expect(before.pid).not.toBe(process.pid); // its own process
  const doomed = inFlightOn(victim);
  await doomed.started;
  const safe = h.client.chat.completions.create({
    model: survivor,
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 300,
    ...({ ignore_eos: true } as object),
  });

  const killedAt = Date.now();
  process.kill(before.pid, signal);
  // At once, while it restarts (the restart waits 250 ms, then loads): not ready, and its gRPC health says so; the
  // other model still serves. Checked before awaiting the endings so a quick restart cannot hide the down state.
  expect(await eventually(async () => (await fetch(`${h.url}/ready`)).status === 503, 1_000)).toBe(true);
  expect(await healthOf(victim)).toBe("NOT_SERVING");
  expect(await healthOf("")).toBe("NOT_SERVING");
  expect(await healthOf(survivor)).toBe("SERVING");
  expect(await metric(`loom_engines_ready{model="${victim}"}`)).toBe(0);
  const endings = await doomed.ended;
  for (const e of endings) {
    expect(e.code, e.transport).toBe("engine_failure");
    expect(e.at - killedAt, e.transport).toBeLessThan(1_000);
  }
  const done = await safe;
  expect(done.choices[0]?.finish_reason).toBe("length");
  expect(done.usage?.completion_tokens).toBe(300);

  expect(await eventually(async () => (await hostOf(victim)).state === "ready", 30_000)).toBe(true);
  const after = await hostOf(victim);
  expect(after).toMatchObject({ restarts: restartsBefore + 1, signal });
  expect(after.pid).not.toBe(before.pid);
  expect(after.recoveryMs).toBeGreaterThan(0);
  process.stdout.write(
    `[engine-isolation] ${signal}: ${endings.map((e) => `${e.transport} failed after ${e.at - killedAt} ms`).join(", ")}; engine back in ${after.recoveryMs} ms\n`,
  );
  expect((await fetch(`${h.url}/ready`)).status).toBe(200);
  expect(await eventually(async () => (await healthOf(victim)) === "SERVING" && (await healthOf("")) === "SERVING")).toBe(true);
  expect(await metric(`loom_engines_ready{model="${victim}"}`)).toBe(1);
  expect(await metric(`loom_engine_restarts_total{model="${victim}"}`)).toBe(restartsBefore + 1);
  const served = await h.client.chat.completions.create({ model: victim, messages: [{ role: "user", content: "hi" }], max_tokens: 3 });
  expect(served.usage?.completion_tokens).toBe(3);
}

describe("engine processes", () => {
  it("SIGKILL of one model's engine process mid-generation: its requests fail on every transport, the other model serves, it restarts", async () => {
    await crashAndRecover(TEST_MODEL, OTHER, "SIGKILL", 0);
  }, 90_000);

  it("SIGSEGV of the other model's engine process: the same, and the first model is unaffected", async () => {
    await crashAndRecover(OTHER, TEST_MODEL, "SIGSEGV", 0);
  }, 90_000);

  it("no slot or request is left behind after the crashes", async () => {
    const s = await engineStatus(h.url);
    for (const w of s.models.flatMap((m) => m.workers)) {
      expect(w.inFlight).toBe(0);
      expect(w.stats?.slotsBusy ?? 0).toBe(0);
    }
  });
});

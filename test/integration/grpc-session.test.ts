// loom.v1.Generation/ChatSession over a real @grpc/grpc-js client generated from the proto: a multi-turn
// conversation whose replies join the history (the next turn reuses their KV), per-message errors that leave the
// stream open, cancel within a turn, half-close, and client cancel / deadline freeing the slot.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, status, type Client, type ClientDuplexStream, type StatusObject } from "@grpc/grpc-js";
import { busySlots, eventually, startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
interface GenerationClient extends Client {
  ChatSession: (meta?: Metadata, opts?: { deadline?: number }) => ClientDuplexStream<Msg, Msg>;
}
type Kind = "delta" | "finished" | "error" | "tool_call";

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

/** One ChatSession call: every server message in order, taken by kind; the final status. */
class Session {
  readonly received: Msg[] = [];
  private readonly unread: Msg[] = [];
  private waiters: { kind: Kind; resolve: (m: Msg) => void }[] = [];
  readonly status: Promise<StatusObject>;

  constructor(readonly call: ClientDuplexStream<Msg, Msg>) {
    call.on("data", (m: Msg) => {
      this.received.push(m);
      const w = this.waiters.find((x) => m[x.kind] !== undefined);
      if (w === undefined) return void this.unread.push(m);
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(m);
    });
    call.on("error", () => {}); // the status below says what happened
    this.status = new Promise((resolve) => call.on("status", resolve));
  }

  static open(opts: { deadline?: number } = {}): Session {
    return new Session(c.ChatSession(new Metadata(), opts));
  }

  send(m: Msg): void {
    this.call.write(m);
  }

  /** The first message of this kind not yet taken. */
  take(kind: Kind): Promise<Msg> {
    const i = this.unread.findIndex((m) => m[kind] !== undefined);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0] as Msg);
    return new Promise((resolve) => this.waiters.push({ kind, resolve }));
  }

  /** Text of the deltas answering the client message `eventId`. */
  text(eventId: string): string {
    return this.received
      .filter((m) => m["event_id"] === eventId && m["delta"])
      .map((m) => (m["delta"] as Msg)["text"])
      .join("");
  }
}

const user = (content: string): Msg => ({ append: { messages: [{ role: "user", content }] } });
interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
}
const usageOf = (m: Msg): Usage => ({ prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, ...((m["finished"] as Msg)["usage"] as Partial<Usage>) });
const reasonOf = (m: Msg): unknown => (m["finished"] as Msg)["reason"];
const errorOf = (m: Msg): Msg => m["error"] as Msg;

describe("gRPC ChatSession", () => {
  it("tools: a turn's calls stream as tool_call messages and join the conversation, answered by a tool message", async () => {
    const s = Session.open();
    const parameters = JSON.stringify({ type: "object", properties: { n: { type: "integer", minimum: 1, maximum: 9 } }, required: ["n"] });
    s.send({
      configure: {
        model: TEST_MODEL,
        tools: [{ name: "roll", parameters }],
        tool_choice: "required",
        parallel_tool_calls: false,
        stopping: { max_tokens: 60 },
      },
    });
    s.send({ append: { messages: [{ role: "user", content: "roll" }] } });
    s.send({ respond: {}, event_id: "t1" });
    const first = (await s.take("tool_call"))["tool_call"] as Msg;
    expect(first["name"]).toBe("roll");
    const done = (await s.take("finished"))["finished"] as Msg;
    expect(done["reason"]).toBe("FINISH_REASON_TOOL_CALLS");
    const args = s.received
      .filter((m) => m["tool_call"] !== undefined)
      .map((m) => String((m["tool_call"] as Msg)["arguments"] ?? ""))
      .join("");
    expect((JSON.parse(args) as { n: number }).n).toBeGreaterThanOrEqual(1);
    s.send({ configure: { tool_choice: "none", stopping: { max_tokens: 3 } } });
    s.send({ append: { messages: [{ role: "tool", content: "4", tool_call_id: first["id"] }] } });
    s.send({ respond: {}, event_id: "t2" });
    const next = (await s.take("finished"))["finished"] as Msg;
    expect(next["reason"]).toBe("FINISH_REASON_LENGTH");
    expect(Number((next["usage"] as Msg)["prompt_tokens"])).toBeGreaterThan(Number((done["usage"] as Msg)["prompt_tokens"]));
    s.call.end();
    await s.status;
  });

  it("runs a multi-turn conversation: each reply joins the history and the next turn reuses its KV", async () => {
    const s = Session.open();
    s.send({ configure: { model: TEST_MODEL, sampling: { temperature: 0 }, stopping: { max_tokens: 8 }, instructions: "Be brief." } });
    s.send(user("Hello there"));
    s.send({ respond: {}, event_id: "r1" });
    const f1 = await s.take("finished");
    expect(f1["event_id"]).toBe("r1");
    expect(reasonOf(f1)).toBe("FINISH_REASON_LENGTH");
    expect(usageOf(f1)["completion_tokens"]).toBe(8);
    const reply = s.text("r1");
    s.send(user("And then?"));
    s.send({ respond: {}, event_id: "r2" });
    const u2 = usageOf(await s.take("finished"));
    const u1 = usageOf(f1);
    expect(u2["cached_tokens"]).toBeGreaterThanOrEqual(u1["prompt_tokens"] - 2);
    // The reply is part of the history: the same conversation sent to the HTTP API has the same prompt length.
    const http = await h.client.chat.completions.create({
      model: TEST_MODEL,
      max_tokens: 1,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hello there" },
        { role: "assistant", content: reply },
        { role: "user", content: "And then?" },
      ],
    });
    expect(u2["prompt_tokens"]).toBe(http.usage?.prompt_tokens);
    s.call.end();
    expect((await s.status).code).toBe(status.OK);
    expect(s.received.filter((m) => m["error"])).toEqual([]);
  });

  it("answers a refused message with an error naming its gRPC code, and the stream keeps working", async () => {
    const s = Session.open();
    const refused = async (m: Msg, id: string): Promise<Msg> => {
      s.send({ ...m, event_id: id });
      const e = await s.take("error");
      expect(e["event_id"]).toBe(id);
      return errorOf(e);
    };
    expect(await refused({ configure: { model: TEST_MODEL, sampling: { temperature: 5 } } }, "temp")).toMatchObject({
      code: "INVALID_ARGUMENT",
      param: "temperature",
      message: expect.stringMatching(/temperature/),
    });
    expect(await refused({ configure: { model: "nope" } }, "model")).toMatchObject({ code: "NOT_FOUND", param: "model" });
    expect(await refused({ respond: {} }, "empty")).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await refused({}, "nothing")).toMatchObject({ code: "INVALID_ARGUMENT", param: "action" });
    expect(await refused({ cancel: {} }, "no-turn")).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await refused({ append: { messages: [] } }, "no-messages")).toMatchObject({ code: "INVALID_ARGUMENT", param: "messages" });
    expect(await refused({ append: { messages: [{ role: "robot", content: "x" }] } }, "role")).toMatchObject({
      code: "INVALID_ARGUMENT",
      param: "messages[0].role",
    });
    s.send({ configure: { model: TEST_MODEL, sampling: { temperature: 0 }, stopping: { max_tokens: 4 } } });
    s.send(user("Hi"));
    expect(await refused({ respond: { stopping: { max_tokens: -1 } } }, "negative")).toMatchObject({ code: "INVALID_ARGUMENT", param: "max_tokens" });
    // One turn at a time: a second respond while one runs is refused, the first finishes.
    s.send({ respond: { stopping: { max_tokens: 40, ignore_eos: true } }, event_id: "long" });
    expect(await refused({ respond: {} }, "second")).toMatchObject({ code: "INVALID_ARGUMENT", param: "respond" });
    const long = await s.take("finished");
    expect(long["event_id"]).toBe("long");
    expect(usageOf(long)["completion_tokens"]).toBe(40);
    // The refused configures changed nothing: the session's settings (max_tokens 4) still apply.
    s.send(user("More"));
    s.send({ respond: {}, event_id: "ok" });
    const ok = await s.take("finished");
    expect([ok["event_id"], reasonOf(ok), usageOf(ok)["completion_tokens"]]).toEqual(["ok", "FINISH_REASON_LENGTH", 4]);
    s.call.end();
    expect((await s.status).code).toBe(status.OK);
  });

  it("cancel stops the turn with a cancelled finish and frees the slot; the stream takes the next turn", async () => {
    const s = Session.open();
    s.send({ configure: { model: TEST_MODEL, stopping: { max_tokens: 3000, ignore_eos: true } } });
    s.send(user("Tell me a long story"));
    s.send({ respond: {}, event_id: "story" });
    await s.take("delta");
    s.send({ cancel: {}, event_id: "stop" });
    const f = await s.take("finished");
    expect([f["event_id"], reasonOf(f)]).toEqual(["story", "FINISH_REASON_CANCELLED"]);
    expect(usageOf(f)["completion_tokens"]).toBeGreaterThan(0);
    expect(usageOf(f)["completion_tokens"]).toBeLessThan(3000);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    s.send(user("Shorter, please"));
    s.send({ respond: { stopping: { max_tokens: 3 } }, event_id: "next" });
    const next = await s.take("finished");
    expect([next["event_id"], reasonOf(next), usageOf(next)["completion_tokens"]]).toEqual(["next", "FINISH_REASON_LENGTH", 3]);
    expect(usageOf(next)["cached_tokens"]).toBeGreaterThan(0);
    s.call.end();
    expect((await s.status).code).toBe(status.OK);
  });

  it("ends the stream after a half-close once the turn in flight finishes, logprobs included", async () => {
    const s = Session.open();
    s.send({ configure: { model: TEST_MODEL, stopping: { max_tokens: 6 }, top_logprobs: 2 } });
    s.send(user("hi"));
    s.send({ respond: {} });
    s.call.end();
    expect((await s.status).code).toBe(status.OK);
    const last = s.received.at(-1) as Msg;
    expect(reasonOf(last)).toBe("FINISH_REASON_LENGTH");
    const logprobs = s.received.filter((m) => m["delta"]).flatMap((m) => (m["delta"] as Msg)["logprobs"] as Msg[]);
    expect(logprobs.length).toBe(6);
    expect((logprobs[0]?.["top"] as Msg[]).length).toBe(2);
  });

  it("client cancel and the call deadline stop the turn and free the slot; the next session works", async () => {
    const long = (s: Session): void => {
      s.send({ configure: { model: TEST_MODEL, stopping: { max_tokens: 3000, ignore_eos: true } } });
      s.send(user("tell me everything"));
      s.send({ respond: {} });
    };
    const cancelled = Session.open();
    long(cancelled);
    await cancelled.take("delta");
    cancelled.call.cancel();
    expect((await cancelled.status).code).toBe(status.CANCELLED);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    const late = Session.open({ deadline: Date.now() + 400 });
    long(late);
    expect((await late.status).code).toBe(status.DEADLINE_EXCEEDED);
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    const after = Session.open();
    after.send({ configure: { model: TEST_MODEL, stopping: { max_tokens: 3 } } });
    after.send(user("again"));
    after.send({ respond: {} });
    expect(reasonOf(await after.take("finished"))).toBe("FINISH_REASON_LENGTH");
    after.call.end();
    expect((await after.status).code).toBe(status.OK);
  });
});

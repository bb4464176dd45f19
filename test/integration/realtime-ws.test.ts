// The WebSocket Realtime endpoint with a plain `ws` client and with the official SDK's OpenAIRealtimeWS: session
// events, a multi-turn conversation that reuses KV, cancel within a step (slot freed), errors for bad frames and
// audio, and a socket close that cancels what it started.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { busySlots, eventually, startHarness, type Harness } from "../support/server-harness.js";
import { Conn, openSdkRealtime, type RealtimeEvent } from "../support/realtime-clients.js";

type Event = RealtimeEvent;
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

describe("Realtime over WebSocket (ws client)", () => {
  it("runs a two-turn conversation with session, item and response events", async () => {
    const c = await Conn.open(h.url);
    await eventually(async () => c.events.some((e) => e.type === "session.created"));
    c.send({ type: "session.update", session: { instructions: "Be brief.", max_output_tokens: 8 } });
    expect(((await c.next("session.updated"))["session"] as Event)["instructions"]).toBe("Be brief.");
    c.say("Hello there");
    await c.next("conversation.item.created");
    c.send({ type: "response.create" });
    const done1 = await c.next("response.done");
    const r1 = done1["response"] as { status: string; usage: { output_tokens: number; input_tokens: number } };
    expect(r1.status).toBe("incomplete");
    expect(r1.usage.output_tokens).toBe(8);
    const deltas = c.events
      .filter((e) => e.type === "response.output_text.delta")
      .map((e) => e["delta"])
      .join("");
    expect((c.events.find((e) => e.type === "response.output_text.done") as Event)["text"]).toBe(deltas);
    c.say("And then?");
    c.send({ type: "response.create" });
    const r2 = (await c.next("response.done"))["response"] as { usage: { input_tokens: number; input_token_details: { cached_tokens: number } } };
    expect(r2.usage.input_tokens).toBeGreaterThan(r1.usage.input_tokens);
    expect(r2.usage.input_token_details.cached_tokens).toBeGreaterThanOrEqual(r1.usage.input_tokens - 2);
    c.ws.close();
  });

  it("function tools: a required call streams as a function_call item; its output goes back as an item", async () => {
    const c = await Conn.open(h.url);
    const parameters = { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"], additionalProperties: false };
    c.send({
      type: "session.update",
      session: {
        tools: [{ type: "function", name: "get_weather", description: "Weather", parameters }],
        tool_choice: "required",
        parallel_tool_calls: false,
        max_output_tokens: 200,
      },
    });
    await c.next("session.updated");
    c.say("Weather in Oslo?");
    c.send({ type: "response.create" });
    const done = (await c.next("response.done"))["response"] as { status: string; output: Event[] };
    expect(done.status).toBe("completed");
    const added = c.events.find((e) => e.type === "response.output_item.added" && (e["item"] as Event)["type"] === "function_call") as Event;
    const call = added["item"] as Event;
    expect(call["name"]).toBe("get_weather");
    const ofCall = (e: Event): boolean => e["call_id"] === call["call_id"];
    const deltas = c.events.filter((e) => e.type === "response.function_call_arguments.delta" && ofCall(e)).map((e) => String(e["delta"]));
    const argsDone = c.events.find((e) => e.type === "response.function_call_arguments.done" && ofCall(e)) as Event;
    expect(deltas.join("")).toBe(argsDone["arguments"]);
    expect(typeof (JSON.parse(String(argsDone["arguments"])) as { city: unknown }).city).toBe("string");
    expect(done.output.find((o) => o["type"] === "function_call")?.["call_id"]).toBe(call["call_id"]);
    // The client answers the call; the next (free) response sees the whole exchange.
    c.send({ type: "session.update", session: { tool_choice: "none", max_output_tokens: 4 } });
    await c.next("session.updated");
    c.send({ type: "conversation.item.create", item: { type: "function_call_output", call_id: call["call_id"], output: "12 C" } });
    await c.next("conversation.item.created");
    c.send({ type: "response.create" });
    const r2 = (await c.next("response.done"))["response"] as { status: string; usage: { input_tokens: number } };
    expect(["completed", "incomplete"]).toContain(r2.status);
    expect(r2.usage.input_tokens).toBeGreaterThan(20);
    c.ws.close();
  });

  it("cancels a response within a step and frees the slot; closing the socket cancels too", async () => {
    const c = await Conn.open(h.url);
    c.send({ type: "session.update", session: { max_output_tokens: 3000 } });
    c.say("Tell me a long story");
    c.send({ type: "response.create" });
    await c.next("response.output_text.delta");
    c.send({ type: "response.cancel", event_id: "cancel-1" });
    expect(((await c.next("response.done"))["response"] as Event)["status"]).toBe("cancelled");
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
    c.send({ type: "response.create" });
    await c.next("response.output_text.delta");
    c.ws.close();
    expect(await eventually(async () => (await busySlots(h.url)) === 0)).toBe(true);
  });

  it("answers bad frames, unknown events and audio with error events and stays open", async () => {
    const c = await Conn.open(h.url);
    c.ws.send("{not json");
    expect(((await c.next("error"))["error"] as Event)["message"]).toMatch(/JSON/);
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(((await c.next("error"))["error"] as Event)["message"]).toMatch(/Binary/);
    c.send({ type: "nope.nothing", event_id: "evt-7" });
    expect(((await c.next("error"))["error"] as Event)["event_id"]).toBe("evt-7");
    c.send({ type: "input_audio_buffer.append", audio: "AAAA" });
    expect(((await c.next("error"))["error"] as Event)["message"]).toMatch(/Audio/);
    c.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_image", image_url: "x" }] } });
    expect(((await c.next("error"))["error"] as Event)["param"]).toBe("item.content[0].type");
    c.send({ type: "session.update", session: { temperature: 9 } });
    expect(((await c.next("error"))["error"] as Event)["param"]).toBe("temperature");
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });
});

describe("Realtime limits", () => {
  it("closes with 1009 on a frame over the body limit, and the server keeps serving", async () => {
    const c = await Conn.open(h.url);
    const closed = new Promise<number>((resolve) => c.ws.once("close", (code) => resolve(code)));
    c.ws.send("x".repeat(5 * 1024 * 1024));
    expect(await closed).toBe(1009);
    const again = await Conn.open(h.url);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
    again.ws.close();
  });
});

describe("Realtime with the official SDK client", () => {
  it("streams a text response through OpenAIRealtimeWS over a plain TCP connection", async () => {
    const rt = await openSdkRealtime(h.url);
    const text: string[] = [];
    const done = new Promise<Event>((resolve, reject) => {
      rt.on("response.output_text.delta", (e) => text.push(e.delta));
      rt.on("response.done", (e) => resolve(e as unknown as Event));
      rt.on("error", (e) => reject(e));
    });
    rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] } });
    rt.send({ type: "response.create", response: { max_output_tokens: 6 } });
    const ev = await done;
    expect((ev["response"] as { usage: { output_tokens: number } }).usage.output_tokens).toBe(6);
    expect(text.join("").length).toBeGreaterThan(0);
    rt.close();
  });
});

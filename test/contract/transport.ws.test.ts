// The transport contract over the WebSocket Realtime endpoint with a plain `ws` client.

import { afterAll, beforeAll } from "vitest";
import WebSocket from "ws";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { transportContract, type StreamResult, type TransportDriver } from "./transport.cases.js";

type Event = Record<string, unknown> & { type: string };
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function open(): Promise<{ ws: WebSocket; events: AsyncGenerator<Event> }> {
  const ws = new WebSocket(`${h.url.replace("http", "ws")}/v1/realtime?model=${TEST_MODEL}`);
  const queue: Event[] = [];
  let wake: (() => void) | null = null;
  ws.on("message", (d) => {
    queue.push(JSON.parse(d.toString()) as Event);
    wake?.();
  });
  await new Promise((r) => ws.once("open", r));
  async function* events(): AsyncGenerator<Event> {
    for (;;) {
      const e = queue.shift();
      if (e !== undefined) yield e;
      else await new Promise<void>((r) => (wake = r));
    }
  }
  return { ws, events: events() };
}

async function until(events: AsyncGenerator<Event>, type: string, onEach?: (e: Event) => void): Promise<Event> {
  for (;;) {
    const { value } = await events.next();
    const e = value as Event;
    onEach?.(e);
    if (e.type === type) return e;
  }
}

function ask(ws: WebSocket, content: string, maxTokens: number, extra: Record<string, unknown> = {}): void {
  ws.send(JSON.stringify({ type: "session.update", session: { max_output_tokens: maxTokens, temperature: 0, ...extra } }));
  ws.send(JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: content }] } }));
  ws.send(JSON.stringify({ type: "response.create" }));
}

function driver(): TransportDriver {
  return {
    async stream(content, maxTokens): Promise<StreamResult> {
      const { ws, events } = await open();
      ask(ws, content, maxTokens);
      let text = "";
      let deltas = 0;
      const done = await until(events, "response.done", (e) => {
        if (e.type === "response.output_text.delta") {
          text += String(e["delta"]);
          deltas++;
        }
      });
      ws.close();
      const r = done["response"] as { status: string; usage: { input_tokens: number; output_tokens: number } };
      return {
        text,
        deltas,
        promptTokens: r.usage.input_tokens,
        completionTokens: r.usage.output_tokens,
        finish: r.status === "incomplete" ? "length" : "stop",
      };
    },
    async cancelAfterFirstDelta(content) {
      const { ws, events } = await open();
      ask(ws, content, 3000, { ignore_eos: true });
      await until(events, "response.output_text.delta");
      ws.send(JSON.stringify({ type: "response.cancel" }));
      await until(events, "response.done");
      ws.close();
    },
    async badTemperature() {
      const { ws, events } = await open();
      ws.send(JSON.stringify({ type: "session.update", session: { temperature: 9 } }));
      const e = (await until(events, "error"))["error"] as { code: string; message: string };
      ws.close();
      return { code: e.code, message: e.message };
    },
    close: async () => {},
  };
}

transportContract("WebSocket (Realtime events)", { harness: () => h, driver, expectedBadCode: "invalid_request_error" });

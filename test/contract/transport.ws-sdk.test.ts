// The transport contract over the WebSocket Realtime endpoint with the official SDK's OpenAIRealtimeWS client: the
// events Loom sends must be what the SDK's own client parses and dispatches.

import type { OpenAIRealtimeWS } from "openai/realtime/ws";
import { afterAll, beforeAll } from "vitest";
import { startHarness, type Harness } from "../support/server-harness.js";
import { openSdkRealtime } from "../support/realtime-clients.js";
import { transportContract, type StreamResult, type TransportDriver } from "./transport.cases.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

interface SdkDone {
  readonly response: { readonly status?: string; readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number } };
}

function open(): Promise<OpenAIRealtimeWS> {
  return openSdkRealtime(h.url);
}

function ask(rt: OpenAIRealtimeWS, content: string, maxTokens: number, extra: Record<string, unknown> = {}): void {
  rt.send({ type: "session.update", session: { type: "realtime", max_output_tokens: maxTokens, ...extra } as never });
  rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: content }] } });
  rt.send({ type: "response.create" });
}

function driver(): TransportDriver {
  return {
    async stream(content, maxTokens): Promise<StreamResult> {
      const rt = await open();
      let text = "";
      let deltas = 0;
      const done = new Promise<SdkDone>((resolve, reject) => {
        rt.on("response.output_text.delta", (e) => {
          text += e.delta;
          deltas++;
        });
        rt.on("response.done", (e) => resolve(e as unknown as SdkDone));
        rt.on("error", (e) => reject(e));
      });
      ask(rt, content, maxTokens, { temperature: 0 });
      const r = (await done).response;
      rt.close();
      return {
        text,
        deltas,
        promptTokens: r.usage?.input_tokens ?? 0,
        completionTokens: r.usage?.output_tokens ?? 0,
        finish: r.status === "incomplete" ? "length" : "stop",
      };
    },
    async cancelAfterFirstDelta(content) {
      const rt = await open();
      const done = new Promise<void>((resolve) => rt.on("response.done", () => resolve()));
      rt.once("response.output_text.delta", () => rt.send({ type: "response.cancel" }));
      ask(rt, content, 3000, { ignore_eos: true });
      await done;
      rt.close();
    },
    async badTemperature() {
      const rt = await open();
      const err = new Promise<{ code: string; message: string }>((resolve) => {
        rt.on("error", (e) => {
          const inner = (e as unknown as { error?: { code?: string; message?: string } }).error;
          resolve({ code: inner?.code ?? "", message: inner?.message ?? e.message });
        });
      });
      rt.send({ type: "session.update", session: { type: "realtime", temperature: 9 } as never });
      const e = await err;
      rt.close();
      return e;
    },
    close: async () => {},
  };
}

transportContract("WebSocket (official SDK OpenAIRealtimeWS)", { harness: () => h, driver, expectedBadCode: "invalid_request_error" });

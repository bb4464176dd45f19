// Realtime (WebSocket) clients for tests: a plain `ws` connection that records every event, and the official SDK's
// OpenAIRealtimeWS dialled over plain TCP (the SDK always dials wss:).

import { createConnection } from "node:net";
import WebSocket from "ws";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { TEST_MODEL } from "./server-harness.js";

export type RealtimeEvent = Record<string, unknown> & { type: string };

export class Conn {
  readonly events: RealtimeEvent[] = [];
  private waiters: { type: string; resolve: (e: RealtimeEvent) => void }[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const e = JSON.parse(data.toString()) as RealtimeEvent;
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => (w.type === e.type ? (w.resolve(e), false) : true));
    });
  }
  static async open(url: string, model = TEST_MODEL): Promise<Conn> {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/realtime?model=${model}`);
    const c = new Conn(ws);
    await new Promise((r) => ws.once("open", r));
    return c;
  }
  send(e: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(e));
  }
  next(type: string): Promise<RealtimeEvent> {
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }
  say(text: string): void {
    this.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });
  }
}

export async function openSdkRealtime(url: string, model = TEST_MODEL): Promise<OpenAIRealtimeWS> {
  const { hostname, port } = new URL(url);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused" });
  const rt = new OpenAIRealtimeWS({ model, options: { createConnection: () => createConnection({ host: hostname, port: Number(port) }) } as never }, client);
  await new Promise<void>((resolve, reject) => {
    rt.socket.once("open", () => resolve());
    rt.socket.once("error", reject);
  });
  return rt;
}

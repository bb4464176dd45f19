// The transport contract over gRPC with a @grpc/grpc-js client generated from the proto at run time.

import { afterAll, beforeAll } from "vitest";
import { status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { transportContract, type StreamResult, type TransportDriver } from "./transport.cases.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
interface GenerationClient extends Client {
  Chat: (req: Msg) => ClientReadableStream<Msg>;
}

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

const chat = (content: string, max: number, extra: Msg = {}): Msg => ({
  model: TEST_MODEL,
  messages: [{ role: "user", content }],
  sampling: { temperature: 0, ...extra },
  stopping: { max_tokens: max, ...(max > 100 ? { ignore_eos: true } : {}) },
});

function driver(): TransportDriver {
  return {
    stream: (content, maxTokens) =>
      new Promise<StreamResult>((resolve, reject) => {
        let text = "";
        let deltas = 0;
        let finished: Msg | null = null;
        const call = c.Chat(chat(content, maxTokens));
        call.on("data", (m: Msg) => {
          const d = m["delta"] as Msg | undefined;
          if (d && d["text"]) {
            text += String(d["text"]);
            deltas++;
          }
          if (m["finished"]) finished = m["finished"] as Msg;
        });
        call.on("error", reject);
        call.on("end", () => {
          const f = finished as Msg;
          const u = f["usage"] as Msg;
          resolve({
            text,
            deltas,
            promptTokens: Number(u["prompt_tokens"]),
            completionTokens: Number(u["completion_tokens"]),
            finish: f["reason"] === "FINISH_REASON_LENGTH" ? "length" : "stop",
          });
        });
      }),
    cancelAfterFirstDelta: (content) =>
      new Promise<void>((resolve) => {
        const call = c.Chat(chat(content, 3000));
        call.on("error", (e: ServiceError) => {
          if (e.code === status.CANCELLED) resolve();
        });
        call.once("data", () => call.cancel());
      }),
    badTemperature: () =>
      new Promise((resolve) => {
        const call = c.Chat(chat("x", 3, { temperature: 9 }));
        call.on("data", () => {});
        call.on("error", (e: ServiceError) => resolve({ code: status[e.code] ?? String(e.code), message: e.details }));
      }),
    close: async () => {},
  };
}

transportContract("gRPC (@grpc/grpc-js)", { harness: () => h, driver, expectedBadCode: "INVALID_ARGUMENT" });

// The transport contract over HTTP/SSE with the official openai SDK.

import { afterAll, beforeAll } from "vitest";
import OpenAI from "openai";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { transportContract, type StreamResult, type TransportDriver } from "./transport.cases.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function driver(): TransportDriver {
  const messages = (content: string) => [{ role: "user" as const, content }];
  return {
    async stream(content, maxTokens): Promise<StreamResult> {
      const s = await h.client.chat.completions.create({
        model: TEST_MODEL,
        messages: messages(content),
        max_tokens: maxTokens,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let deltas = 0;
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const c of s) {
        const d = c.choices[0]?.delta.content;
        if (d) {
          text += d;
          deltas++;
        }
        finish = c.choices[0]?.finish_reason ?? finish;
        if (c.usage) usage = c.usage;
      }
      return { text, deltas, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0, finish: finish as "stop" | "length" };
    },
    async cancelAfterFirstDelta(content) {
      const s = await h.client.chat.completions.create({
        model: TEST_MODEL,
        messages: messages(content),
        max_tokens: 3000,
        stream: true,
        ...({ ignore_eos: true } as object),
      });
      for await (const _c of s) break; // the SDK aborts the request
    },
    async badTemperature() {
      const err = (await h.client.chat.completions
        .create({ model: TEST_MODEL, messages: messages("x"), temperature: 9 })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      return { code: String(err.status), message: err.message };
    },
    close: async () => {},
  };
}

transportContract("HTTP/SSE (openai SDK)", { harness: () => h, driver, expectedBadCode: "400" });

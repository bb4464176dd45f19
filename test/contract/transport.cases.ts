// The streaming contract every transport must keep, written once (hono's runTest style): a stream delivers the
// same greedy text as every other transport, usage is reported, a cancel frees the slot within a step and the
// next request succeeds, and a bad request gets the transport's form of invalid_request.

import { describe, expect, it } from "vitest";
import { busySlots, eventually, type Harness } from "../support/server-harness.js";

export interface StreamResult {
  readonly text: string;
  readonly deltas: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** "stop" | "length" as the transport spells it, normalized by the driver. */
  readonly finish: "stop" | "length";
}

export interface TransportDriver {
  /** Stream a greedy chat completion of `maxTokens` tokens for one user message. */
  stream(content: string, maxTokens: number): Promise<StreamResult>;
  /** Start a long stream, cancel it the transport's way after the first delta, resolve once cancelled. */
  cancelAfterFirstDelta(content: string): Promise<void>;
  /** Send a request with temperature 9; return Loom's error code as the transport reports it, and the message. */
  badTemperature(): Promise<{ readonly code: string; readonly message: string }>;
  close(): Promise<void>;
}

/** The reference text every transport must reproduce (from the HTTP API, greedy). */
export async function referenceText(h: Harness, content: string, maxTokens: number): Promise<string> {
  const r = await h.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0 });
  return r.choices[0]?.message.content ?? "";
}

export function transportContract(name: string, ctx: { harness: () => Harness; driver: () => TransportDriver; expectedBadCode: string }): void {
  describe(`transport contract: ${name}`, () => {
    it("streams the same greedy text as every transport, in several deltas, with usage", async () => {
      const content = "The contract says";
      const r = await ctx.driver().stream(content, 12);
      expect(r.text).toBe(await referenceText(ctx.harness(), content, 12));
      // Streamed, not one blob. Not "one delta per token": the mailbox merges deltas a lagging reader has not taken
      // yet, and an engine process's step events can arrive together, so only "more than one" is the contract.
      expect(r.deltas).toBeGreaterThan(1);
      expect(r.completionTokens).toBe(12);
      expect(r.promptTokens).toBeGreaterThan(3);
      expect(r.finish).toBe("length");
    });

    it("frees the slot within a step when cancelled, and serves the next request", async () => {
      await ctx.driver().cancelAfterFirstDelta("a very long story");
      expect(await eventually(async () => (await busySlots(ctx.harness().url)) === 0, 5_000)).toBe(true);
      const next = await ctx.driver().stream("again", 3);
      expect(next.completionTokens).toBe(3);
    });

    it("reports a bad request in the transport's error form, naming the field", async () => {
      const e = await ctx.driver().badTemperature();
      expect(e.code).toBe(ctx.expectedBadCode);
      expect(e.message).toMatch(/temperature/);
    });
  });
}

// Unit tests for the per-step thread choice: the single/batch switch on a stand-in for node-llama-cpp's native
// context handle.
import { describe, expect, it } from "vitest";
import { StepThreads } from "../../../bench/step-threads.js";

describe("StepThreads", () => {
  function fakeContext(): { context: { _ctx: { setThreads(n: number): void; other(): string } }; calls: number[] } {
    const calls: number[] = [];
    const native = {
      setThreads: (n: number) => void calls.push(n),
      other: function (this: unknown) {
        return this === native ? "bound" : "unbound";
      },
    };
    return { context: { _ctx: native }, calls };
  }

  it("substitutes its own count whenever node-llama-cpp sets threads", () => {
    const { context, calls } = fakeContext();
    const t = new StepThreads(context, 1, 2, () => {});
    t.useFor(1);
    context._ctx.setThreads(2);
    t.useFor(17);
    context._ctx.setThreads(2);
    expect(calls).toEqual([1, 2]);
    expect(context._ctx.other()).toBe("bound");
  });

  it("leaves the context alone when both counts are equal, and warns when internals are missing", () => {
    const { context, calls } = fakeContext();
    const original = context._ctx;
    new StepThreads(context, 2, 2, () => {}).useFor(1);
    expect(context._ctx).toBe(original);
    context._ctx.setThreads(2);
    expect(calls).toEqual([2]);
    const warnings: string[] = [];
    new StepThreads({}, 1, 2, (_l, m) => void warnings.push(m));
    expect(warnings).toHaveLength(1);
  });
});

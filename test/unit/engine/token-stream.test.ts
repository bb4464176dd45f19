// Unit tests for TokenStream, the per-request mailbox between the engine's step messages and one transport:
// ordering, merging of unread deltas (text, token ids, logprobs), done/error ending the iteration, the one abort
// path (early break, abort()) calling onAbort at most once and only before the end, and dropped late pushes.
import { describe, expect, it, vi } from "vitest";
import { TokenStream, type StreamEvent } from "../../../src/engine/token-stream.js";
import type { TokenLogprobData } from "../../../src/engine-worker/worker-messages.js";

const usage = { promptTokens: 3, completionTokens: 2, cachedTokens: 0 };
const done: StreamEvent = { type: "done", reason: "stop", usage };
const lp = (token: number): TokenLogprobData => ({ token, text: `t${token}`, logprob: -token, top: [] });

function delta(text: string, tokenIds: number[], logprobs: TokenLogprobData[] | null = null): StreamEvent {
  return { type: "delta", text, tokenIds, logprobs };
}

async function drain(stream: TokenStream): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

/** Let pending promise callbacks run (the reader's loop resumes on microtasks). */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("TokenStream: order and merging", () => {
  it("yields events in push order, and ends after done", async () => {
    const s = new TokenStream("r", () => undefined);
    s.push({ type: "accepted", promptTokens: 3 });
    s.push(delta("a", [1]));
    s.push(done);
    expect(await drain(s)).toEqual([{ type: "accepted", promptTokens: 3 }, delta("a", [1]), done]);
    expect(s.isEnded).toBe(true);
  });

  it("merges consecutive unread deltas: text, token ids and logprobs concatenated", async () => {
    const s = new TokenStream("r", () => undefined);
    s.push(delta("Hel", [1], [lp(1)]));
    s.push(delta("lo", [2], [lp(2)]));
    s.push(delta(" w", [3, 4], [lp(3), lp(4)]));
    s.push(done);
    expect(await drain(s)).toEqual([delta("Hello w", [1, 2, 3, 4], [lp(1), lp(2), lp(3), lp(4)]), done]);
  });

  it("keeps logprobs null when neither merged delta has them", async () => {
    const s = new TokenStream("r", () => undefined);
    s.push(delta("a", [1]));
    s.push(delta("b", [2]));
    s.push(done);
    const [first] = await drain(s);
    expect(first).toEqual(delta("ab", [1, 2], null));
  });

  it("does not merge across a non-delta event", async () => {
    const s = new TokenStream("r", () => undefined);
    s.push(delta("a", [1]));
    s.push({ type: "accepted", promptTokens: 1 });
    s.push(delta("b", [2]));
    s.push(done);
    expect((await drain(s)).map((e) => e.type)).toEqual(["delta", "accepted", "delta", "done"]);
  });

  it("does not merge into a delta the reader already took", async () => {
    const s = new TokenStream("r", () => undefined);
    const it = s[Symbol.asyncIterator]();
    s.push(delta("a", [1]));
    expect(await it.next()).toEqual({ done: false, value: delta("a", [1]) });
    s.push(delta("b", [2]));
    s.push(delta("c", [3]));
    expect(await it.next()).toEqual({ done: false, value: delta("bc", [2, 3]) });
  });

  it("keeps order and content across many events (buffer compaction)", async () => {
    const s = new TokenStream("r", () => undefined);
    const it = s[Symbol.asyncIterator]();
    const seen: number[] = [];
    // Push three, read two: the read head runs past half the buffer, which triggers compaction.
    for (let i = 0; i < 300; i++) {
      for (let k = 0; k < 3; k++) s.push({ type: "accepted", promptTokens: 3 * i + k });
      for (let k = 0; k < 2; k++) {
        const r = await it.next();
        if (!r.done && r.value.type === "accepted") seen.push(r.value.promptTokens);
      }
    }
    s.push(done);
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      if (r.value.type === "accepted") seen.push(r.value.promptTokens);
    }
    expect(seen).toEqual(Array.from({ length: 900 }, (_, i) => i));
  });
});

describe("TokenStream: ending", () => {
  it("an error event ends the iteration", async () => {
    const s = new TokenStream("r", () => undefined);
    const error = { type: "error", error: { code: "engine_failure", message: "boom", param: null } } as const;
    s.push(delta("a", [1]));
    s.push(error);
    expect(await drain(s)).toEqual([delta("a", [1]), error]);
  });

  it("pushes after done or error are dropped", async () => {
    const s = new TokenStream("r", () => undefined);
    s.push(done);
    s.push(delta("late", [9]));
    s.push({ type: "error", error: { code: "internal_error", message: "late", param: null } });
    expect(await drain(s)).toEqual([done]);
  });

  it("a reader awaiting an empty stream receives later pushes", async () => {
    const s = new TokenStream("r", () => undefined);
    const reading = drain(s);
    await tick();
    s.push(delta("a", [1]));
    await tick();
    s.push(delta("b", [2]));
    await tick();
    s.push(done);
    expect(await reading).toEqual([delta("a", [1]), delta("b", [2]), done]);
  });
});

describe("TokenStream: abort", () => {
  it("an early break calls onAbort exactly once with the stream id", async () => {
    const onAbort = vi.fn();
    const s = new TokenStream("req-1", onAbort);
    s.push(delta("a", [1]));
    s.push({ type: "accepted", promptTokens: 1 });
    for await (const e of s) {
      expect(e.type).toBe("delta");
      break;
    }
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(onAbort).toHaveBeenCalledWith("req-1");
    s.abort();
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(s.isEnded).toBe(true);
  });

  it("abort() wakes a waiting reader, ends its loop and calls onAbort once", async () => {
    const onAbort = vi.fn();
    const s = new TokenStream("r", onAbort);
    const reading = drain(s);
    await tick();
    s.abort();
    expect(await reading).toEqual([]);
    expect(onAbort).toHaveBeenCalledTimes(1);
  });

  it("pushes after abort are dropped", async () => {
    const s = new TokenStream("r", () => undefined);
    s.abort();
    s.push(delta("a", [1]));
    expect(await drain(s)).toEqual([]);
  });

  it("abort after done does not call onAbort, neither does finishing the loop normally", async () => {
    const onAbort = vi.fn();
    const s = new TokenStream("r", onAbort);
    s.push(delta("a", [1]));
    s.push(done);
    await drain(s);
    s.abort();
    expect(onAbort).not.toHaveBeenCalled();
  });

  it("breaking after done was pushed but before it was read does not call onAbort", async () => {
    const onAbort = vi.fn();
    const s = new TokenStream("r", onAbort);
    s.push(delta("a", [1]));
    s.push({ type: "accepted", promptTokens: 1 });
    s.push(done);
    for await (const e of s) {
      expect(e.type).toBe("delta");
      break;
    }
    expect(onAbort).not.toHaveBeenCalled();
  });
});

describe("TokenStream: cancel", () => {
  it("cancel() asks the engine once and keeps reading up to done(cancelled)", async () => {
    const onAbort = vi.fn();
    const s = new TokenStream("r", onAbort);
    s.push(delta("a", [1]));
    s.cancel();
    s.cancel();
    const cancelled: StreamEvent = { type: "done", reason: "cancelled", usage };
    s.push(delta("b", [2]));
    s.push(cancelled);
    expect(await drain(s)).toEqual([delta("ab", [1, 2]), cancelled]);
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(onAbort).toHaveBeenCalledWith("r");
  });

  it("cancel() after done, or an abort after cancel(), does not call onAbort again", async () => {
    const onAbort = vi.fn();
    const ended = new TokenStream("r", onAbort);
    ended.push(done);
    ended.cancel();
    expect(onAbort).not.toHaveBeenCalled();
    const s = new TokenStream("s", onAbort);
    s.cancel();
    s.abort();
    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(await drain(s)).toEqual([]);
  });
});

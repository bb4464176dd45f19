// TokenStream: the per-request mailbox between an engine worker's step messages and one transport.
// One writer (the worker client), one reader (the transport). The writer never awaits; the reader drains what is
// buffered synchronously and awaits only when empty. When the reader lags, consecutive deltas are merged into one,
// so a slow client costs at most its own output text, never an unbounded queue of events.
// Closing the iterator early (break / return()) is a cancellation and takes the engine's one abort path; cancel()
// takes the same path but keeps reading, so the reader still gets the final done(cancelled) with its usage.

import type { ErrorData } from "../errors.js";
import type { FinishReason, TokenLogprobData, Usage } from "../request/generate-request.js";
import type { ParsedPiece, ToolCallParser } from "../chat/tool-call-parser.js";

export type StreamEvent =
  | { readonly type: "accepted"; readonly promptTokens: number }
  | { readonly type: "delta"; readonly text: string; readonly tokenIds: readonly number[]; readonly logprobs: readonly TokenLogprobData[] | null }
  /** A tool call begins (requests with tools): its index in this response, id and function name. */
  | { readonly type: "tool_call"; readonly index: number; readonly id: string; readonly name: string }
  /** More of a call's arguments: slices of the generated JSON text, in order. */
  | { readonly type: "tool_arguments"; readonly index: number; readonly text: string }
  | { readonly type: "done"; readonly reason: FinishReason; readonly usage: Usage }
  | { readonly type: "error"; readonly error: ErrorData };

type Delta = Extract<StreamEvent, { type: "delta" }>;
type ToolArguments = Extract<StreamEvent, { type: "tool_arguments" }>;

export class TokenStream implements AsyncIterable<StreamEvent> {
  private readonly buffer: StreamEvent[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  private ended = false;
  private readerGone = false;
  private cancelAsked = false;

  /**
   * onAbort is called once if the reader leaves before the stream ended. With `toolCalls`, generated text goes
   * through that parser: content stays `delta`, calls become tool_call/tool_arguments, and a response that made
   * calls finishes with reason tool_calls.
   */
  constructor(
    readonly id: string,
    private readonly onAbort: (id: string) => void,
    private readonly toolCalls: ToolCallParser | null = null,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  push(event: StreamEvent): void {
    if (this.ended || this.readerGone) return;
    const parser = this.toolCalls;
    if (parser !== null && event.type === "delta") return this.pushPieces(parser.push(event.text), event);
    if (parser !== null && event.type === "done") {
      this.pushPieces(parser.end(), null);
      const reason = parser.callCount > 0 && event.reason === "stop" ? "tool_calls" : event.reason;
      return this.append({ ...event, reason });
    }
    this.append(event);
  }

  /** Parsed pieces of one delta; its token ids and logprobs stay with its content (dropped if it had none). */
  private pushPieces(pieces: readonly ParsedPiece[], from: Delta | null): void {
    let tokensGiven = false;
    for (const p of pieces) {
      if (p.kind === "content") {
        const own = tokensGiven ? null : from;
        tokensGiven = true;
        this.append({ type: "delta", text: p.text, tokenIds: own?.tokenIds ?? [], logprobs: own?.logprobs ?? null });
      } else if (p.kind === "call") this.append({ type: "tool_call", index: p.index, id: p.id, name: p.name });
      else this.append({ type: "tool_arguments", index: p.index, text: p.text });
    }
  }

  private append(event: StreamEvent): void {
    const last = this.buffer.length > this.head ? this.buffer[this.buffer.length - 1] : undefined;
    if (event.type === "delta" && last?.type === "delta") {
      this.buffer[this.buffer.length - 1] = mergeDeltas(last, event);
    } else if (event.type === "tool_arguments" && last?.type === "tool_arguments" && last.index === event.index) {
      this.buffer[this.buffer.length - 1] = { ...last, text: last.text + event.text } satisfies ToolArguments;
    } else {
      this.buffer.push(event);
    }
    if (event.type === "done" || event.type === "error") this.ended = true;
    this.notify();
  }

  /** The reader is gone (client disconnect, deadline): stop listening and ask the engine to free the slot. */
  abort(): void {
    if (this.readerGone) return;
    this.readerGone = true;
    if (!this.ended && !this.cancelAsked) this.onAbort(this.id);
    this.ended = true;
    this.notify();
  }

  /** Ask the engine to stop at its next step, and keep reading: the stream still ends with done (or error). */
  cancel(): void {
    if (this.ended || this.readerGone || this.cancelAsked) return;
    this.cancelAsked = true;
    this.onAbort(this.id);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    try {
      for (;;) {
        const event = this.take();
        if (event !== undefined) {
          yield event;
          if (event.type === "done" || event.type === "error") return;
          continue;
        }
        if (this.readerGone || (this.ended && this.head >= this.buffer.length)) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.abort();
    }
  }

  private take(): StreamEvent | undefined {
    if (this.head >= this.buffer.length) return undefined;
    const event = this.buffer[this.head++];
    if (this.head > 64 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    return event;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

function mergeDeltas(a: Delta, b: Delta): Delta {
  return {
    type: "delta",
    text: a.text + b.text,
    tokenIds: [...a.tokenIds, ...b.tokenIds],
    logprobs: a.logprobs === null && b.logprobs === null ? null : [...(a.logprobs ?? []), ...(b.logprobs ?? [])],
  };
}

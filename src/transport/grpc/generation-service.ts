// loom.v1.Generation handlers: decoded protobuf → the shared parser → engine.submit → a stream of
// GenerateResponse messages. Client cancel and the call deadline take the engine's one abort path; note that
// grpc-js also emits 'cancelled' after a normal end, so only a call we have not ended counts as cancelled.

import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import type { Engine, StreamEvent } from "../../engine/engine.js";
import { LoomError, grpcStatusFor, type ErrorData } from "../../errors.js";
import type { ParsedGenerationRequest } from "../../request/parse-sampling.js";
import { parseGrpcChat, parseGrpcGenerate } from "../../request/parse-grpc-request.js";
import type { TokenLogprobData } from "../../request/generate-request.js";

export interface GenerationServiceOptions {
  readonly engine: Engine;
  readonly requestTimeoutMs: number;
  readonly accepting: () => boolean;
  /** Throws LoomError(invalid_api_key) when the call's metadata lacks a valid key. */
  readonly authorize: (call: { metadata: { get(key: string): unknown[] } }) => void;
  readonly onError: (code: ErrorData["code"]) => void;
}

type Writable = ServerWritableStream<unknown, unknown>;

export function generationHandlers(opts: GenerationServiceOptions): Record<string, unknown> {
  return {
    Generate: (call: Writable) => void serve(opts, call, () => parseGrpcGenerate(call.request), "text_completion"),
    Chat: (call: Writable) => void serve(opts, call, () => parseGrpcChat(call.request), "chat"),
    ListModels: (call: ServerUnaryCall<unknown, unknown>, done: sendUnaryData<unknown>) => {
      try {
        opts.authorize(call);
        const models = opts.engine.listModels().map((m) => ({ id: m.id, created: m.created, max_context: m.info?.slotContextSize ?? 0 }));
        done(null, { models });
      } catch (err) {
        done(grpcError(LoomError.from(err).toData(), opts));
      }
    },
  };
}

async function serve(opts: GenerationServiceOptions, call: Writable, parse: () => ParsedGenerationRequest, operation: string): Promise<void> {
  let ended = false;
  try {
    opts.authorize(call);
    if (!opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
    const parsed = parse();
    const stream = opts.engine.submit(parsed.request, {
      deadlineAt: deadlineOf(call, opts.requestTimeoutMs),
      requestId: requestIdOf(call),
      transport: "grpc",
      operation,
    });
    call.on("cancelled", () => {
      if (!ended) stream.abort();
    });
    for await (const ev of stream) {
      if (ev.type === "error") throw LoomError.fromData(ev.error);
      if (ev.type === "done" && ev.reason === "cancelled") return;
      const msg = toMessage(ev, parsed.logprobs);
      if (msg !== null) await write(call, msg);
    }
    ended = true;
    call.end();
  } catch (err) {
    ended = true;
    // grpc-js sends a status for an 'error' emitted on a server stream (destroy() would just drop the stream).
    if (!call.cancelled) call.emit("error", grpcError(LoomError.from(err).toData(), opts));
  }
}

function toMessage(ev: StreamEvent, withLogprobs: boolean): unknown {
  if (ev.type === "delta") {
    return { delta: { text: ev.text, token_ids: ev.tokenIds, logprobs: withLogprobs ? (ev.logprobs ?? []).map(logprob) : [] } };
  }
  if (ev.type === "done") {
    const reason = ev.reason === "length" ? "FINISH_REASON_LENGTH" : "FINISH_REASON_STOP";
    const u = ev.usage;
    return { finished: { reason, usage: { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, cached_tokens: u.cachedTokens } } };
  }
  return null;
}

function logprob(t: TokenLogprobData): unknown {
  return { token: t.token, text: t.text, logprob: t.logprob, top: t.top.map((a) => ({ token: a.token, text: a.text, logprob: a.logprob })) };
}

/** Respect HTTP/2 flow control: a slow reader makes us wait (its mailbox merges deltas meanwhile). */
function write(call: Writable, msg: unknown): Promise<void> {
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
  });
}

function deadlineOf(call: Writable, timeoutMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Math.min(Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY, Date.now() + timeoutMs);
}

function requestIdOf(call: Writable): string {
  const given = call.metadata.get("x-request-id")[0];
  return typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : `grpc-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export function grpcError(err: ErrorData, opts: Pick<GenerationServiceOptions, "onError">): Error & { code: number; details: string } {
  opts.onError(err.code);
  return Object.assign(new Error(err.message), { code: grpcStatusFor(err.code), details: err.message });
}

// loom.v1.Generation handlers: decoded protobuf → the shared parser → engine.submitChoices (n choices) → a stream of
// GenerateResponse messages, each naming its choice (ChatSession: see chat-session.ts; Tokenize: engine.tokenize). Client cancel and the
// call deadline take the engine's one abort path; note that grpc-js also emits 'cancelled' after a normal end, so
// only a call we have not ended counts as cancelled.

import { Metadata, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from "@grpc/grpc-js";
import type { Engine } from "../../engine/engine.js";
import { LoomError, grpcMessageFor, grpcStatusFor, type ErrorData } from "../../errors.js";
import type { ParsedGenerationRequest } from "../../request/parse-sampling.js";
import { parseGrpcChat, parseGrpcGenerate, parseGrpcTokenize } from "../../request/parse-grpc-request.js";
import type { Caller, Gatekeeper } from "../../admission/gatekeeper.js";
import { mergeChoices } from "../../engine/choice-streams.js";
import { GrpcChatSession } from "./chat-session.js";
import { toMessage } from "./wire.js";

export interface GenerationServiceOptions {
  readonly engine: Engine;
  readonly requestTimeoutMs: number;
  readonly accepting: () => boolean;
  /** The call's caller; throws LoomError(invalid_api_key) when its metadata lacks a valid key. */
  readonly authorize: (call: { metadata: { get(key: string): unknown[] } }) => Caller;
  readonly gate: Gatekeeper;
  readonly onError: (code: ErrorData["code"]) => void;
}

type Writable = ServerWritableStream<unknown, unknown>;
type Duplex = ServerDuplexStream<unknown, unknown>;
type Unary = ServerUnaryCall<unknown, unknown>;

export function generationHandlers(opts: GenerationServiceOptions): Record<string, unknown> {
  return {
    Generate: (call: Writable) => void serve(opts, call, () => parseGrpcGenerate(call.request), "text_completion"),
    Chat: (call: Writable) => void serve(opts, call, () => parseGrpcChat(call.request), "chat"),
    ListModels: (call: Unary, done: sendUnaryData<unknown>) => {
      try {
        opts.authorize(call);
        const models = opts.engine.listModels().map((m) => ({ id: m.id, created: m.created, max_context: m.info?.slotContextSize ?? 0 }));
        done(null, { models });
      } catch (err) {
        done(grpcError(LoomError.from(err).toData(), opts));
      }
    },
    Tokenize: (call: Unary, done: sendUnaryData<unknown>) => void tokenize(opts, call, done),
    ChatSession: (call: Duplex) => startSession(opts, call),
  };
}

async function tokenize(opts: GenerationServiceOptions, call: Unary, done: sendUnaryData<unknown>): Promise<void> {
  try {
    opts.authorize(call);
    const req = parseGrpcTokenize(call.request);
    const { tokens, tokenStrs } = await opts.engine.tokenize(req);
    done(null, { token_ids: tokens, count: tokens.length, token_strs: tokenStrs ?? [], max_context: opts.engine.maxContext(req.model) });
  } catch (err) {
    done(grpcError(LoomError.from(err).toData(), opts));
  }
}

/** Refusals before the session exists (auth, draining) end the call with a status; later problems are messages. */
function startSession(opts: GenerationServiceOptions, call: Duplex): void {
  let caller: Caller;
  try {
    caller = opts.authorize(call);
    if (!opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
  } catch (err) {
    call.emit("error", grpcError(LoomError.from(err).toData(), opts));
    return;
  }
  const session = new GrpcChatSession({
    engine: opts.engine,
    gate: opts.gate,
    caller,
    requestId: requestIdOf(call),
    turnDeadline: () => deadlineOf(call, opts.requestTimeoutMs),
    accepting: opts.accepting,
    send: (msg) => write(call, msg),
    end: () => call.end(),
    onError: opts.onError,
  });
  call.on("data", (m: unknown) => session.handle(m));
  call.on("end", () => session.halfClose());
  call.on("cancelled", () => session.close());
}

async function serve(opts: GenerationServiceOptions, call: Writable, parse: () => ParsedGenerationRequest, operation: string): Promise<void> {
  let ended = false;
  try {
    const caller = opts.authorize(call);
    if (!opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
    const parsed = parse();
    opts.gate.admit(caller);
    const streams = opts.engine.submitChoices(parsed.request, parsed.n, {
      deadlineAt: deadlineOf(call, opts.requestTimeoutMs),
      requestId: requestIdOf(call),
      transport: "grpc",
      operation,
      caller: caller.name,
      keySalt: caller.cacheSalt,
    });
    call.on("cancelled", () => {
      if (!ended) streams.forEach((s) => s.abort());
    });
    // Choices interleave as they are generated; each message names its choice.
    for await (const { index, event: ev } of mergeChoices(
      streams,
      streams.map((s) => s[Symbol.asyncIterator]()),
    )) {
      if (ev.type === "error") throw LoomError.fromData(ev.error);
      if (ev.type === "done" && ev.reason === "cancelled") return;
      const msg = toMessage(ev, parsed.logprobs);
      if (msg !== null) await write(call, { ...msg, index });
    }
    ended = true;
    call.end();
  } catch (err) {
    ended = true;
    // grpc-js sends a status for an 'error' emitted on a server stream (destroy() would just drop the stream).
    if (!call.cancelled) call.emit("error", grpcError(LoomError.from(err).toData(), opts));
  }
}

/** Respect HTTP/2 flow control: a slow reader makes us wait (its mailbox merges deltas meanwhile). */
function write(call: Writable | Duplex, msg: unknown): Promise<void> {
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

function deadlineOf(call: Writable | Duplex, timeoutMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Math.min(Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY, Date.now() + timeoutMs);
}

function requestIdOf(call: Writable | Duplex): string {
  const given = call.metadata.get("x-request-id")[0];
  return typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : `grpc-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** A status for the call; its trailers carry Loom's own code (`loom-error-code`), finer than the gRPC code. */
export function grpcError(err: ErrorData, opts: Pick<GenerationServiceOptions, "onError">): Error & { code: number; details: string; metadata: Metadata } {
  opts.onError(err.code);
  const message = grpcMessageFor(err);
  const metadata = new Metadata();
  metadata.set("loom-error-code", err.code);
  return Object.assign(new Error(message), { code: grpcStatusFor(err.code), details: message, metadata });
}

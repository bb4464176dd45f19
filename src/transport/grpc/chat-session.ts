// loom.v1.Generation/ChatSession: one multi-turn conversation on a bidirectional stream, the gRPC twin of the
// WebSocket realtime session. Settings and conversation live with the call; each `respond` runs the whole
// conversation through the engine and appends the reply, so the slot table's prefix reuse lets turn N+1 reuse turn
// N's KV. A refused client message gets an `error` reply and changes nothing; the stream survives it.

import type { Caller, Gatekeeper } from "../../admission/gatekeeper.js";
import type { Engine, StreamEvent, TokenStream } from "../../engine/engine.js";
import { LoomError, grpcMessageFor, grpcStatusNameFor, modelNotFound, type ErrorCode, type ErrorData } from "../../errors.js";
import type { ChatMessage } from "../../request/generate-request.js";
import { grpcSessionFields, parseGrpcMessages, parseGrpcSessionTurn } from "../../request/parse-grpc-request.js";
import { isPlainObject, type JsonObject } from "../../request/parse-sampling.js";
import { isJsonObjectText } from "../../request/parse-tools.js";
import { toMessage } from "./wire.js";

export interface ChatSessionOptions {
  readonly engine: Engine;
  /** Rate limits per API key; `caller` is the call's key. */
  readonly gate: Gatekeeper;
  readonly caller: Caller;
  readonly requestId: string;
  /** Absolute epoch ms for a turn starting now: the call's deadline or now + --timeout, whichever is sooner. */
  readonly turnDeadline: () => number;
  readonly accepting: () => boolean;
  /** Write one ChatSessionResponse; resolves when the transport can take more (HTTP/2 flow control). */
  readonly send: (msg: Record<string, unknown>) => Promise<void>;
  /** End the call with OK: the client half-closed and no turn runs. */
  readonly end: () => void;
  readonly onError: (code: ErrorCode) => void;
}

interface Turn {
  readonly stream: TokenStream;
  readonly eventId: string;
  readonly withLogprobs: boolean;
  /** Where the reply joins the conversation: messages appended while it runs come after it. */
  readonly insertAt: number;
}

export class GrpcChatSession {
  private settings: JsonObject = {};
  private instructions = "";
  private readonly conversation: ChatMessage[] = [];
  private turn: Turn | null = null;
  private turns = 0;
  private halfClosed = false;
  /** The call is over (ended by us, cancelled or past its deadline): nothing more is written. */
  private closed = false;

  constructor(private readonly opts: ChatSessionOptions) {}

  /** One decoded ChatSessionRequest. Never throws: a refused message becomes an `error` reply. */
  handle(message: unknown): void {
    if (this.closed) return; // delivered after the call was cancelled: must not start a turn nobody reads
    const m = isPlainObject(message) ? message : {};
    const eventId = typeof m["event_id"] === "string" ? m["event_id"] : "";
    try {
      this.dispatch(m, eventId);
    } catch (err) {
      this.error(LoomError.from(err).toData(), eventId);
    }
  }

  /** The client half-closed: let the turn in flight finish, then end the call. */
  halfClose(): void {
    this.halfClosed = true;
    if (this.turn === null) this.endCall();
  }

  /** The call was cancelled or passed its deadline: stop the turn in flight (its slot frees at the next step). */
  close(): void {
    this.closed = true;
    this.turn?.stream.abort();
  }

  private dispatch(m: JsonObject, eventId: string): void {
    // proto-loader's `oneofs: true` names the field that is set.
    switch (m["action"]) {
      case "configure":
        return this.configure(m["configure"]);
      case "append":
        return this.append(m["append"]);
      case "respond":
        return this.respond(m["respond"], eventId);
      case "cancel":
        return this.cancel();
      default:
        throw new LoomError("invalid_request", "Each message must set one of `configure`, `append`, `respond` or `cancel`.", "action");
    }
  }

  private configure(message: unknown): void {
    const fields = grpcSessionFields(message);
    const model = fields["model"];
    if (typeof model === "string" && !this.opts.engine.hasModel(model)) {
      throw modelNotFound(model);
    }
    const next = { ...this.settings, ...fields };
    parseGrpcSessionTurn(next, [{ role: "user", content: "" }]); // the Chat validator, before anything is accepted
    this.settings = next;
    const instructions = isPlainObject(message) ? message["instructions"] : undefined;
    if (typeof instructions === "string") this.instructions = instructions;
  }

  private append(message: unknown): void {
    this.conversation.push(...parseGrpcMessages(message));
  }

  private respond(message: unknown, eventId: string): void {
    if (this.turn !== null) throw new LoomError("invalid_request", "A turn is already in flight; cancel it or wait for its `finished` message.", "respond");
    if (!this.opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
    if (this.conversation.length === 0) throw new LoomError("invalid_request", "The conversation is empty: `append` a message first.", "append");
    const parsed = parseGrpcSessionTurn({ ...this.settings, ...grpcSessionFields(message) }, this.history());
    this.opts.gate.admit(this.opts.caller);
    const stream = this.opts.engine.submit(parsed.request, {
      deadlineAt: this.opts.turnDeadline(),
      requestId: `${this.opts.requestId}-${++this.turns}`,
      transport: "grpc",
      operation: "chat",
      caller: this.opts.caller.name,
      keySalt: this.opts.caller.cacheSalt,
    });
    const turn: Turn = { stream, eventId, withLogprobs: parsed.logprobs, insertAt: this.conversation.length };
    this.turn = turn;
    void this.run(turn);
  }

  private async run(t: Turn): Promise<void> {
    let text = "";
    let ended = false;
    const calls: { id: string; name: string; arguments: string }[] = [];
    try {
      for await (const ev of t.stream) {
        if (ev.type === "error") return this.error(ev.error, t.eventId);
        if (ev.type === "delta") text += ev.text;
        if (ev.type === "tool_call") calls[ev.index] = { id: ev.id, name: ev.name, arguments: "" };
        if (ev.type === "tool_arguments" && calls[ev.index] !== undefined) (calls[ev.index] as { arguments: string }).arguments += ev.text;
        ended ||= ev.type === "done";
        await this.write(ev, t);
      }
    } catch (err) {
      this.error(LoomError.from(err).toData(), t.eventId);
    } finally {
      // A finished turn always joins (keeps user/assistant alternating for strict templates); a failed one if it said
      // anything. Its tool calls join with it, so the client's `tool` messages answer them.
      // A call cut short (max_tokens) has arguments that are not an object yet: it cannot join the history.
      const toolCalls = calls.filter((c) => isJsonObjectText(c.arguments));
      if (ended || text !== "" || toolCalls.length > 0) {
        this.conversation.splice(t.insertAt, 0, { role: "assistant", content: text, ...(toolCalls.length > 0 ? { toolCalls } : {}) });
      }
      this.turn = null;
      if (this.halfClosed) this.endCall();
    }
  }

  private async write(ev: StreamEvent, t: Turn): Promise<void> {
    const msg = toMessage(ev, t.withLogprobs);
    if (msg !== null && !this.closed) await this.opts.send({ ...msg, event_id: t.eventId });
  }

  private cancel(): void {
    if (this.turn === null) throw new LoomError("invalid_request", "There is no turn in flight to cancel.", "cancel");
    this.turn.stream.cancel();
  }

  private history(): ChatMessage[] {
    const system: ChatMessage[] = this.instructions === "" ? [] : [{ role: "system", content: this.instructions }];
    return [...system, ...this.conversation];
  }

  private error(err: ErrorData, eventId: string): void {
    this.opts.onError(err.code);
    if (this.closed) return;
    void this.opts.send({ error: { code: grpcStatusNameFor(err.code), message: grpcMessageFor(err), param: err.param ?? "" }, event_id: eventId });
  }

  private endCall(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.end();
  }
}

// One WebSocket connection speaking the text subset of the OpenAI Realtime API (GA event names, as openai 6.x types
// them): the session settings and the conversation live with the socket; each response.create runs the whole
// conversation through the engine (the slot table's prefix reuse makes turn N+1 reuse turn N's KV). Closing the
// socket or response.cancel aborts the active response. Unsupported modalities get an `error` event, never silence.

import type { Caller, Gatekeeper } from "../../admission/gatekeeper.js";
import { randomBytes } from "node:crypto";
import type { Engine, TokenStream } from "../../engine/engine.js";
import { LoomError, modelNotFound, toOpenAIErrorBody, type ErrorData } from "../../errors.js";
import { parseChatRequest } from "../../request/parse-chat-request.js";
import { isPlainObject, type JsonObject } from "../../request/parse-sampling.js";

export interface RealtimeSessionOptions {
  readonly engine: Engine;
  /** Rate limits per API key; `caller` is the connection's key. */
  readonly gate: Gatekeeper;
  readonly caller: Caller;
  readonly model: string;
  readonly requestTimeoutMs: number;
  /** False while the server drains: new responses are refused. */
  readonly accepting: () => boolean;
  readonly send: (event: Record<string, unknown>) => void;
  readonly onError: (code: ErrorData["code"]) => void;
}

type Item =
  | { readonly kind: "message"; readonly id: string; readonly role: "system" | "user" | "assistant"; readonly text: string }
  /** A call the model made (or the client recorded), and the client's answer to it. */
  | { readonly kind: "function_call"; readonly id: string; readonly callId: string; readonly name: string; readonly arguments: string }
  | { readonly kind: "function_call_output"; readonly id: string; readonly callId: string; readonly output: string };

/** A function call being streamed in the active response. */
interface CallOut {
  readonly itemId: string;
  readonly outputIndex: number;
  readonly callId: string;
  readonly name: string;
  arguments: string;
}

interface ActiveResponse {
  readonly id: string;
  readonly stream: TokenStream;
  outputTokens: number;
  cancelled: boolean;
  readonly calls: CallOut[];
}

const id = (prefix: string): string => `${prefix}_${randomBytes(10).toString("hex")}`;

export class RealtimeSession {
  private readonly sessionId = id("sess");
  private settings: JsonObject;
  private readonly items: Item[] = [];
  private active: ActiveResponse | null = null;

  constructor(private readonly opts: RealtimeSessionOptions) {
    this.settings = { type: "realtime", model: opts.model, instructions: "", output_modalities: ["text"], max_output_tokens: "inf" };
    this.emit({ type: "session.created", session: this.session() });
  }

  /** One client frame (already JSON-parsed). Never throws: problems become `error` events naming the event id. */
  handle(event: unknown): void {
    const eventId = isPlainObject(event) && typeof event["event_id"] === "string" ? event["event_id"] : null;
    try {
      if (!isPlainObject(event) || typeof event["type"] !== "string")
        throw new LoomError("invalid_request", "Each event must be a JSON object with a string `type`.", "type");
      this.dispatch(event);
    } catch (err) {
      this.error(LoomError.from(err).toData(), eventId);
    }
  }

  /** The socket closed: stop whatever this connection started. */
  close(): void {
    this.active?.stream.abort();
    this.active = null;
  }

  private dispatch(e: JsonObject): void {
    switch (e["type"]) {
      case "session.update":
        return this.updateSession(e["session"]);
      case "conversation.item.create":
        return this.createItem(e["item"]);
      case "conversation.item.delete":
        return this.deleteItem(e["item_id"]);
      case "response.create":
        return this.createResponse(e["response"]);
      case "response.cancel":
        return this.cancelResponse();
      default:
        if (String(e["type"]).startsWith("input_audio_buffer.") || String(e["type"]).startsWith("output_audio_buffer.")) {
          throw new LoomError("invalid_request", "Audio is not supported: Loom's realtime endpoint is text only.", "type");
        }
        throw new LoomError("invalid_request", `Unknown event type \`${String(e["type"])}\`.`, "type");
    }
  }

  private updateSession(session: unknown): void {
    if (!isPlainObject(session)) throw new LoomError("invalid_request", "`session` must be an object.", "session");
    checkModalities(session["output_modalities"], "session.output_modalities");
    if (session["model"] !== undefined && session["model"] !== this.settings["model"]) checkModel(this.opts.engine, session["model"], "session.model");
    const next = { ...this.settings, ...session };
    parseChatRequest(this.samplingBody(next, [])); // the HTTP validator, before anything is accepted
    this.settings = next;
    this.emit({ type: "session.updated", session: this.session() });
  }

  private createItem(item: unknown): void {
    const created = parseItem(item);
    this.items.push(created);
    this.emit({ type: "conversation.item.created", previous_item_id: this.items.at(-2)?.id ?? null, item: wireItem(created, "completed") });
  }

  private deleteItem(itemId: unknown): void {
    const i = this.items.findIndex((it) => it.id === itemId);
    if (i < 0) throw new LoomError("invalid_request", `No conversation item with id \`${String(itemId)}\`.`, "item_id");
    this.items.splice(i, 1);
    this.emit({ type: "conversation.item.deleted", item_id: itemId });
  }

  /**
   * Everything that can refuse the response (busy, bad parameters, empty conversation, unknown model, full queue,
   * draining) throws here, synchronously, so handle() turns it into an `error` event; only then does the stream run.
   */
  private createResponse(params: unknown): void {
    if (params !== undefined && params !== null && !isPlainObject(params)) throw new LoomError("invalid_request", "`response` must be an object.", "response");
    if (this.active !== null) throw new LoomError("invalid_request", "A response is already in progress; cancel it or wait for response.done.", "type");
    if (!this.opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
    const settings = { ...this.settings, ...(params ?? {}) };
    checkModalities(settings["output_modalities"], "response.output_modalities");
    if (settings["model"] !== this.settings["model"]) checkModel(this.opts.engine, settings["model"], "response.model");
    const parsed = parseChatRequest(this.samplingBody(settings, this.messages(settings)));
    this.opts.gate.admit(this.opts.caller);
    const responseId = id("resp");
    const stream = this.opts.engine.submit(parsed.request, {
      deadlineAt: Date.now() + this.opts.requestTimeoutMs,
      requestId: responseId,
      transport: "ws",
      operation: "chat",
      caller: this.opts.caller.name,
      keySalt: this.opts.caller.cacheSalt,
    });
    const active: ActiveResponse = { id: responseId, stream, outputTokens: 0, cancelled: false, calls: [] };
    this.active = active;
    this.runResponse(active)
      .catch((err: unknown) => this.error(LoomError.from(err).toData(), null))
      .finally(() => {
        if (this.active === active) this.active = null;
      });
  }

  private async runResponse(r: ActiveResponse): Promise<void> {
    const itemId = id("item");
    const base = { response_id: r.id, item_id: itemId, output_index: 0, content_index: 0 };
    this.emit({ type: "response.created", response: { id: r.id, object: "realtime.response", status: "in_progress", output: [] } });
    this.emit({
      type: "response.output_item.added",
      response_id: r.id,
      output_index: 0,
      item: { id: itemId, type: "message", role: "assistant", status: "in_progress", content: [] },
    });
    let text = "";
    for await (const ev of r.stream) {
      if (ev.type === "error") return this.finishResponse(r, itemId, text, "failed", ev.error);
      if (ev.type === "delta") {
        r.outputTokens += ev.tokenIds.length;
        if (ev.text === "") continue;
        text += ev.text;
        this.emit({ type: "response.output_text.delta", ...base, delta: ev.text });
      } else if (ev.type === "tool_call") {
        this.startCall(r, ev.index, ev.id, ev.name);
      } else if (ev.type === "tool_arguments") {
        const call = r.calls[ev.index];
        if (call === undefined) continue;
        call.arguments += ev.text;
        this.emit({
          type: "response.function_call_arguments.delta",
          response_id: r.id,
          item_id: call.itemId,
          output_index: call.outputIndex,
          call_id: call.callId,
          delta: ev.text,
        });
      } else if (ev.type === "done") {
        this.emit({ type: "response.output_text.done", ...base, text });
        this.finishCalls(r);
        const status = ev.reason === "length" ? "incomplete" : ev.reason === "cancelled" ? "cancelled" : "completed";
        return this.finishResponse(r, itemId, text, status, null, ev.usage);
      }
    }
    // The reader left first: response.cancel (or the socket closed).
    if (r.cancelled) this.finishResponse(r, itemId, text, "cancelled", null);
  }

  /** A function_call output item (after the message item, one output index each). */
  private startCall(r: ActiveResponse, index: number, callId: string, name: string): void {
    const call: CallOut = { itemId: id("item"), outputIndex: index + 1, callId, name, arguments: "" };
    r.calls[index] = call;
    this.emit({ type: "response.output_item.added", response_id: r.id, output_index: call.outputIndex, item: callItem(call, "in_progress") });
  }

  private finishCalls(r: ActiveResponse): void {
    for (const call of r.calls) {
      const base = { response_id: r.id, item_id: call.itemId, output_index: call.outputIndex, call_id: call.callId };
      this.emit({ type: "response.function_call_arguments.done", ...base, name: call.name, arguments: call.arguments });
      this.emit({ type: "response.output_item.done", response_id: r.id, output_index: call.outputIndex, item: callItem(call, "completed") });
    }
  }

  private finishResponse(
    r: ActiveResponse,
    itemId: string,
    text: string,
    status: string,
    error: ErrorData | null,
    usage?: { promptTokens: number; completionTokens: number; cachedTokens: number },
  ): void {
    if (text !== "" || (status === "completed" && r.calls.length === 0)) this.items.push({ kind: "message", id: itemId, role: "assistant", text });
    for (const c of r.calls) this.items.push({ kind: "function_call", id: c.itemId, callId: c.callId, name: c.name, arguments: c.arguments });
    const details =
      status === "incomplete"
        ? { type: "incomplete", reason: "max_output_tokens" }
        : status === "cancelled"
          ? { type: "cancelled", reason: "client_cancelled" }
          : error
            ? { type: "failed", error: toOpenAIErrorBody(error).error }
            : undefined;
    const input = usage?.promptTokens ?? 0;
    const output = usage?.completionTokens ?? r.outputTokens;
    this.emit({
      type: "response.done",
      response: {
        id: r.id,
        object: "realtime.response",
        status,
        ...(details ? { status_details: details } : {}),
        output: [
          ...(text === "" ? [] : [wireItem({ kind: "message", id: itemId, role: "assistant", text }, status === "completed" ? "completed" : "incomplete")]),
          ...r.calls.map((c) => callItem(c, "completed")),
        ],
        usage: { input_tokens: input, output_tokens: output, total_tokens: input + output, input_token_details: { cached_tokens: usage?.cachedTokens ?? 0 } },
      },
    });
  }

  private cancelResponse(): void {
    const r = this.active;
    if (r === null) throw new LoomError("invalid_request", "There is no response in progress to cancel.", "type");
    r.cancelled = true;
    r.stream.abort();
  }

  /** Session settings → the chat-completions body the shared parser validates. */
  private samplingBody(s: JsonObject, messages: readonly JsonObject[]): JsonObject {
    const max = s["max_output_tokens"];
    const extras = [
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "seed",
      "stop",
      "presence_penalty",
      "frequency_penalty",
      "repetition_penalty",
      "min_tokens",
      "ignore_eos",
      "stop_token_ids",
      "parallel_tool_calls",
    ];
    return {
      model: s["model"],
      messages: messages.length > 0 ? messages : [{ role: "user", content: "" }],
      ...(max === undefined || max === "inf" ? {} : { max_tokens: max }),
      ...Object.fromEntries(extras.filter((k) => s[k] !== undefined).map((k) => [k, s[k]])),
      ...realtimeTools(s),
    };
  }

  private messages(s: JsonObject): JsonObject[] {
    const instructions = typeof s["instructions"] === "string" && s["instructions"] !== "" ? [{ role: "system", content: s["instructions"] }] : [];
    if (this.items.length === 0) throw new LoomError("invalid_request", "The conversation is empty: create an item first.", "type");
    return [...instructions, ...chatMessagesOf(this.items)];
  }

  private session(): JsonObject {
    return { ...this.settings, id: this.sessionId, object: "realtime.session" };
  }

  private error(err: ErrorData, eventId: string | null): void {
    this.opts.onError(err.code);
    const body = toOpenAIErrorBody(err).error;
    this.emit({ type: "error", error: { ...body, event_id: eventId } });
  }

  private emit(event: Record<string, unknown>): void {
    this.opts.send({ event_id: id("event"), ...event });
  }
}

/** Loom's realtime endpoint answers in text only: an audio modality is refused, never silently answered in text. */
function checkModalities(modalities: unknown, param: string): void {
  if (modalities === undefined || modalities === null) return;
  if (!Array.isArray(modalities) || modalities.length === 0 || modalities.some((m) => m !== "text")) {
    throw new LoomError("invalid_request", "Only the `text` output modality is supported: Loom's realtime endpoint is text only.", param);
  }
}

function checkModel(engine: Engine, model: unknown, param: string): void {
  if (typeof model !== "string" || !engine.hasModel(model)) throw modelNotFound(model, param);
}

function parseItem(item: unknown): Item {
  if (!isPlainObject(item)) throw new LoomError("invalid_request", "`item` must be an object.", "item");
  const itemId = typeof item["id"] === "string" ? item["id"] : id("item");
  const str = (key: string): string => {
    const v = item[key];
    if (typeof v !== "string") throw new LoomError("invalid_request", `\`item.${key}\` must be a string.`, `item.${key}`);
    return v;
  };
  if (item["type"] === "function_call") return { kind: "function_call", id: itemId, callId: str("call_id"), name: str("name"), arguments: str("arguments") };
  if (item["type"] === "function_call_output") return { kind: "function_call_output", id: itemId, callId: str("call_id"), output: str("output") };
  if (item["type"] !== "message") throw new LoomError("invalid_request", "`item.type` must be message, function_call or function_call_output.", "item.type");
  const role = item["role"];
  if (role !== "system" && role !== "user" && role !== "assistant")
    throw new LoomError("invalid_request", "`item.role` must be system, user or assistant.", "item.role");
  return { kind: "message", id: itemId, role, text: textOf(item["content"]) };
}

/** Conversation items → chat messages: consecutive calls join one assistant turn, outputs become tool messages. */
function chatMessagesOf(items: readonly Item[]): JsonObject[] {
  const out: JsonObject[] = [];
  for (const it of items) {
    if (it.kind === "message") out.push({ role: it.role, content: it.text });
    else if (it.kind === "function_call_output") out.push({ role: "tool", tool_call_id: it.callId, content: it.output });
    else {
      const call = { id: it.callId, type: "function", function: { name: it.name, arguments: it.arguments } };
      const last = out.at(-1);
      if (last?.["role"] === "assistant" && Array.isArray(last["tool_calls"])) (last["tool_calls"] as unknown[]).push(call);
      else out.push({ role: "assistant", content: null, tool_calls: [call] });
    }
  }
  return out;
}

/** Realtime's flat function tools ({type, name, description, parameters}) and tool_choice → chat-completions fields. */
function realtimeTools(s: JsonObject): JsonObject {
  const tools = s["tools"];
  const choice = s["tool_choice"];
  const out: Record<string, unknown> = {};
  if (Array.isArray(tools) && tools.length > 0) {
    out["tools"] = tools.map((t: unknown) => {
      if (!isPlainObject(t)) return t;
      const { type, ...fn } = t;
      return { type, function: fn };
    });
  }
  if (choice !== undefined && choice !== null) {
    out["tool_choice"] =
      isPlainObject(choice) && choice["type"] === "function" && typeof choice["name"] === "string"
        ? { type: "function", function: { name: choice["name"] } }
        : choice;
  }
  return out;
}

function callItem(c: CallOut, status: string): Record<string, unknown> {
  return { id: c.itemId, object: "realtime.item", type: "function_call", status, name: c.name, call_id: c.callId, arguments: c.arguments };
}

/** Text of a message's content parts; anything but text parts is refused by name. */
function textOf(content: unknown): string {
  if (!Array.isArray(content)) throw new LoomError("invalid_request", "`item.content` must be an array of content parts.", "item.content");
  return content
    .map((part: unknown, i) => {
      const type = isPlainObject(part) ? part["type"] : undefined;
      if ((type === "input_text" || type === "output_text" || type === "text") && isPlainObject(part) && typeof part["text"] === "string") return part["text"];
      throw new LoomError(
        "invalid_request",
        `Content part type \`${String(type)}\` is not supported: text only (input_text, output_text).`,
        `item.content[${i}].type`,
      );
    })
    .join("");
}

function wireItem(item: Item, status: string): Record<string, unknown> {
  if (item.kind === "function_call")
    return { id: item.id, object: "realtime.item", type: "function_call", status, name: item.name, call_id: item.callId, arguments: item.arguments };
  if (item.kind === "function_call_output")
    return { id: item.id, object: "realtime.item", type: "function_call_output", status, call_id: item.callId, output: item.output };
  const type = item.role === "assistant" ? "output_text" : "input_text";
  return { id: item.id, object: "realtime.item", type: "message", role: item.role, status, content: [{ type, text: item.text }] };
}

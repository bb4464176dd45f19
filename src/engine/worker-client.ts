// WorkerClient: the main-thread handle of one engine, in a worker thread or an engine process (its link). It routes
// the engine's step messages into per-request TokenStreams and turns the end of its host into engine_failure for
// every request it held, at once. Stop is cooperative (a thread must never be terminated mid-decode).

import { LoomError, type ErrorData } from "../errors.js";
import type { GenerateRequest } from "../request/generate-request.js";
import type { TokenizeRequest, TokenizeResult } from "../request/parse-tokenize-request.js";
import type { ModelInfo } from "../runtime/model-backend.js";
import { TokenStream } from "./token-stream.js";
import { toolCallParserFor } from "../chat/tool-calls-for-request.js";
import type { EngineStats, EngineWorkerData, FromWorker, SequenceEvent, ToWorker } from "../engine-worker/worker-messages.js";
import type { EngineObserver, RequestMeta, Transport } from "./request-stats.js";
import type { EngineExit, EngineLink } from "./engine-host.js";
import { describeExit } from "../exit-status.js";

export type WorkerState = "starting" | "ready" | "stopping" | "stopped" | "failed";

export interface WorkerClientEvents {
  readonly observer: EngineObserver;
  /** Keep each request's prompt and output text for the observer (`--log-content`); off by default. */
  readonly captureContent: boolean;
}

/** One request in flight: its mailbox, its deadline, and what the main thread times (the worker times its phases). */
interface InFlight {
  readonly stream: TokenStream;
  readonly meta: RequestMeta;
  readonly submittedAt: number;
  deadline: NodeJS.Timeout | null;
  firstAt: number | null;
  lastAt: number;
  promptTokens: number;
  /** Tokens streamed so far (what a request that ends without a finish, e.g. its engine died, had generated). */
  completionTokens: number;
  /** Only with captureContent. */
  content: { prompt: string; output: string } | null;
}

/** How long an engine has, past a request's deadline, to end it before the server does. */
const DEADLINE_GRACE_MS = 5_000;

export class WorkerClient {
  private readonly requests = new Map<string, InFlight>();
  /** Tokenize calls awaiting the worker's answer (they take no slot and are not counted in flight). */
  private readonly tokenizing = new Map<string, { resolve: (r: TokenizeResult) => void; reject: (e: LoomError) => void }>();
  private _state: WorkerState = "starting";
  private _info: ModelInfo | null = null;
  private _stats: EngineStats | null = null;
  private readonly readyPromise: Promise<void>;
  private readonly stoppedPromise: Promise<void>;
  private rejectReady: (e: Error) => void = () => {};

  constructor(
    readonly data: EngineWorkerData,
    private readonly link: EngineLink,
    exited: Promise<EngineExit>,
    private readonly events: WorkerClientEvents,
  ) {
    this.readyPromise = new Promise((resolve, reject) => {
      this.rejectReady = reject;
      link.onMessage((msg: FromWorker) => this.onMessage(msg, resolve, reject));
    });
    // Nobody may be awaiting readiness when an engine dies later; that must not become an unhandled rejection.
    this.readyPromise.catch(() => {});
    this.stoppedPromise = exited.then((exit) => this.onHostExit(exit));
    link.onError((err) => this.failAll({ code: "engine_failure", message: `engine error: ${err.message}`, param: null }));
  }

  get state(): WorkerState {
    return this._state;
  }

  get info(): ModelInfo | null {
    return this._info;
  }

  get stats(): EngineStats | null {
    return this._stats;
  }

  /** Requests submitted and not yet finished. */
  get inFlight(): number {
    return this.requests.size;
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  submit(id: string, request: GenerateRequest, deadlineAt: number | null, meta: RequestMeta): TokenStream {
    if (this._state !== "ready") throw new LoomError("unavailable", "The engine is not accepting requests.");
    const stream = new TokenStream(id, (sid) => this.cancel(sid, "cancelled"), toolCallParserFor(request, this.info));
    this.adopt(stream, request, deadlineAt, meta);
    return stream;
  }

  /** Run a request whose stream was made before its worker was chosen (routing); its abort must reach cancel(). */
  adopt(stream: TokenStream, request: GenerateRequest, deadlineAt: number | null, meta: RequestMeta): void {
    if (this._state !== "ready") throw new LoomError("unavailable", "The engine is not accepting requests.");
    const id = stream.id;
    const now = performance.now();
    const content = this.events.captureContent ? { prompt: promptText(request), output: "" } : null;
    const deadline = deadlineAt === null ? null : setTimeout(() => this.expire(id), Math.max(0, deadlineAt - Date.now()));
    deadline?.unref();
    this.requests.set(id, { stream, meta, submittedAt: now, deadline, firstAt: null, lastAt: now, promptTokens: 0, completionTokens: 0, content });
    this.post({ type: "submit", id, requestId: meta.requestId, request });
  }

  tokenize(id: string, request: TokenizeRequest): Promise<TokenizeResult> {
    if (this._state !== "ready") throw new LoomError("unavailable", "The engine is not accepting requests.");
    return new Promise((resolve, reject) => {
      this.tokenizing.set(id, { resolve, reject });
      this.post({ type: "tokenize", id, request });
    });
  }

  /**
   * The deadline passed: the engine is asked to end the request at its next step; if it has not within a grace (an
   * engine stuck in native code), the request ends here, so no client waits past its deadline on a wedged engine.
   */
  private expire(id: string): void {
    const r = this.requests.get(id);
    if (r === undefined) return;
    this.cancel(id, "deadline_exceeded");
    r.deadline = setTimeout(() => {
      const error: ErrorData = { code: "deadline_exceeded", message: "The request passed its deadline and its engine did not end it.", param: null };
      this.endStream(id, { type: "error", error });
    }, DEADLINE_GRACE_MS);
    r.deadline.unref();
  }

  cancel(id: string, reason: "cancelled" | "deadline_exceeded"): void {
    if (!this.requests.has(id)) return;
    this.post({ type: "cancel", id, reason });
  }

  /** End every request (and tokenize call) with this error at once; each is cancelled in the worker too. */
  cut(error: ErrorData): void {
    for (const id of this.requests.keys()) this.post({ type: "cancel", id, reason: "cancelled" });
    this.failAll(error);
  }

  /** Cooperative stop: the worker cancels its sequences, finishes the step in flight, disposes llama.cpp and exits. */
  async stop(): Promise<void> {
    if (this._state === "stopped" || this._state === "failed") return;
    this._state = "stopping";
    this.post({ type: "shutdown" });
    await this.stoppedPromise;
  }

  private post(msg: ToWorker): void {
    this.link.post(msg);
  }

  private onMessage(msg: FromWorker, resolve: () => void, reject: (e: Error) => void): void {
    switch (msg.type) {
      case "ready":
        this._info = msg.info;
        this._stats = msg.stats;
        if (this._state === "starting") this._state = "ready"; // stop() may have come first
        resolve();
        return;
      case "fatal":
        this._state = "failed";
        reject(LoomError.fromData(msg.error));
        return;
      case "accepted": {
        const r = this.requests.get(msg.id);
        if (r === undefined) return;
        r.promptTokens = msg.promptTokens;
        r.stream.push({ type: "accepted", promptTokens: msg.promptTokens });
        return;
      }
      case "rejected":
        this.endStream(msg.id, { type: "error", error: msg.error });
        return;
      case "step":
        this._stats = msg.stats;
        this.routeStep(msg.events);
        this.events.observer.step(this.data.modelName, this.data.workerId, msg.stats);
        return;
      case "tokenized":
        this.tokenizing.get(msg.id)?.resolve(msg.result);
        this.tokenizing.delete(msg.id);
        return;
      case "tokenize_failed":
        this.tokenizing.get(msg.id)?.reject(LoomError.fromData(msg.error));
        this.tokenizing.delete(msg.id);
        return;
      case "stopped":
        return;
    }
  }

  /** The one loop over a step's events on the main thread: push into mailboxes, close finished ones. */
  private routeStep(events: readonly SequenceEvent[]): void {
    for (const ev of events) {
      const r = this.requests.get(ev.id);
      if (r === undefined) continue;
      if (ev.text.length > 0 || ev.tokenIds.length > 0) {
        this.trackTokens(r, ev.tokenIds.length, ev.text);
        r.stream.push({ type: "delta", text: ev.text, tokenIds: ev.tokenIds, logprobs: ev.logprobs ?? null });
      }
      if (ev.finish === undefined) continue;
      const f = ev.finish;
      if (f.error !== undefined) this.endStream(ev.id, { type: "error", error: f.error }, f);
      else this.endStream(ev.id, { type: "done", reason: f.reason, usage: f.usage }, f);
    }
  }

  private trackTokens(t: InFlight, count: number, text: string): void {
    if (t.content !== null) t.content.output += text;
    if (count === 0) return;
    t.completionTokens += count;
    const now = performance.now();
    if (t.firstAt === null) t.firstAt = now;
    else this.events.observer.tokens(this.data.modelName, count, now - t.lastAt);
    t.lastAt = now;
  }

  private endStream(id: string, event: Parameters<TokenStream["push"]>[0], finish?: SequenceEvent["finish"]): void {
    const r = this.requests.get(id);
    if (r === undefined) return;
    this.requests.delete(id);
    if (r.deadline !== null) clearTimeout(r.deadline);
    this.reportFinished(r, event, finish);
    r.stream.push(event);
  }

  private reportFinished(t: InFlight, event: Parameters<TokenStream["push"]>[0], finish: SequenceEvent["finish"] | undefined): void {
    const now = performance.now();
    this.events.observer.requestFinished({
      ...t.meta,
      model: this.data.modelName,
      finishReason: event.type === "done" ? event.reason : null,
      errorCode: event.type === "error" ? event.error.code : null,
      promptTokens: finish?.usage.promptTokens ?? t.promptTokens,
      cachedTokens: finish?.usage.cachedTokens ?? 0,
      completionTokens: finish?.usage.completionTokens ?? t.completionTokens,
      ttftMs: t.firstAt === null ? null : t.firstAt - t.submittedAt,
      e2eMs: now - t.submittedAt,
      timings: finish?.timings ?? null,
      speculation: finish?.speculation ?? null,
      ...(t.content === null ? {} : { content: t.content }),
    });
  }

  /** Requests in flight by the transport they came from. */
  inFlightByTransport(into: Map<Transport, number>): void {
    for (const t of this.requests.values()) into.set(t.meta.transport, (into.get(t.meta.transport) ?? 0) + 1);
  }

  private onHostExit(exit: EngineExit): void {
    this._state = this._state === "stopping" ? "stopped" : "failed";
    const error: ErrorData = { code: "engine_failure", message: `The engine serving this request ${describeExit(exit.code, exit.signal)}.`, param: null };
    this.rejectReady(LoomError.fromData(error));
    this.failAll(error);
  }

  private failAll(error: ErrorData): void {
    for (const id of [...this.requests.keys()]) this.endStream(id, { type: "error", error });
    for (const pending of this.tokenizing.values()) pending.reject(LoomError.fromData(error));
    this.tokenizing.clear();
  }
}

/** The prompt as the operator would read it in a log line. */
function promptText(request: GenerateRequest): string {
  const p = request.prompt;
  if (p.kind === "chat") return p.messages.map((m) => `${m.role}: ${m.content}`).join("\n");
  return p.kind === "text" ? p.text : `[${p.ids.length} token ids]`;
}

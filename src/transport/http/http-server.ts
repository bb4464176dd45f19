// HTTP transport: node:http server, the route table, request ids, API-key auth, body limit and JSON parsing, and
// the mapping of every thrown LoomError to an OpenAI error response. Routes get parsed input and the Engine facade.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TlsFiles } from "../tls-files.js";
import { corsHeaders, preflightHeaders } from "./cors.js";
import { randomUUID } from "node:crypto";
import { ANONYMOUS, bearerToken, type Caller, type Gatekeeper } from "../../admission/gatekeeper.js";
import type { Engine } from "../../engine/engine.js";
import { echo, LoomError, modelNotFound, type ErrorCode } from "../../errors.js";
import { parseChatRequest } from "../../request/parse-chat-request.js";
import { parseCompletionRequest } from "../../request/parse-completion-request.js";
import { parseJsonText } from "../../request/parse-json.js";
import { parseTokenizeRequest } from "../../request/parse-tokenize-request.js";
import { modelObject } from "../../protocol/openai.js";
import { ChatRenderer } from "./chat-renderer.js";
import { CompletionRenderer } from "./completion-renderer.js";
import { newIdentity, runGeneration, type GenerationContext } from "./generation-route.js";
import { sendError, sendJson } from "./http-respond.js";

export interface HttpServerOptions {
  readonly engine: Engine;
  /** API keys and their rate limits. */
  readonly gate: Gatekeeper;
  /** Certificate and key: serve HTTPS; null: plain HTTP. */
  readonly tls: TlsFiles | null;
  /** --cors-origin values; empty: CORS off. */
  readonly corsOrigins: readonly string[];
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  /** Slow-client bounds (ms) and the connection cap: config's --headers-timeout and friends. */
  readonly connections: {
    readonly headersTimeoutMs: number;
    readonly requestReadTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxConnections: number;
  };
  /** False while draining for shutdown: /ready is 503 and new generations are refused. */
  readonly accepting: () => boolean;
  /** Main-thread health for /v1/status (event-loop delay). */
  readonly mainThread: () => unknown;
  /** The bound gRPC port for /v1/status (null when gRPC is off). */
  readonly grpcPort: () => number | null;
  /** GET /metrics (Prometheus text format). */
  readonly metrics: { contentType(): string; scrape(): Promise<string> };
  /** Told about every error answered before a request reached the engine (metrics count them). */
  readonly onError: (code: ErrorCode) => void;
  readonly log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

interface RequestScope {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly headers: Readonly<Record<string, string>>;
  readonly path: string;
  /** Who is asking (routes without auth: anonymous). */
  readonly caller: Caller;
}

type Handler = (scope: RequestScope, opts: HttpServerOptions) => Promise<void> | void;

interface Route {
  readonly method: "GET" | "POST";
  readonly match: (path: string) => boolean;
  readonly auth: boolean;
  readonly handler: Handler;
}

const ROUTES: readonly Route[] = [
  { method: "POST", match: (p) => p === "/v1/chat/completions", auth: true, handler: chatCompletions },
  { method: "POST", match: (p) => p === "/v1/completions", auth: true, handler: completions },
  { method: "POST", match: (p) => p === "/tokenize", auth: true, handler: tokenize },
  { method: "GET", match: (p) => p === "/v1/models", auth: true, handler: listModels },
  { method: "GET", match: (p) => p.startsWith("/v1/models/"), auth: true, handler: getModel },
  { method: "GET", match: (p) => p === "/v1/status", auth: true, handler: status },
  { method: "GET", match: (p) => p === "/health", auth: false, handler: health },
  { method: "GET", match: (p) => p === "/ready", auth: false, handler: ready },
  { method: "GET", match: (p) => p === "/metrics", auth: false, handler: metrics },
];

export function createHttpServer(opts: HttpServerOptions): Server {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res, opts).catch((err: unknown) => {
      opts.log("error", "request handler failed", { err: String(err) });
      res.destroy();
    });
  };
  const c = opts.connections;
  // Node's timeouts bound how long *receiving* a request may take (a response streams for as long as its deadline
  // allows); they are checked every connectionsCheckingInterval, so that is kept well under the shortest of them.
  const limits = {
    headersTimeout: c.headersTimeoutMs,
    requestTimeout: c.requestReadTimeoutMs,
    keepAliveTimeout: c.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(c.headersTimeoutMs / 4))),
  };
  const server: Server =
    opts.tls === null ? createServer(limits, onRequest) : createHttpsServer({ ...limits, cert: opts.tls.cert, key: opts.tls.key }, onRequest);
  server.maxConnections = c.maxConnections;
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions): Promise<void> {
  const headers = { "x-request-id": requestIdOf(req), ...corsHeaders(opts.corsOrigins, req) };
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  const preflight = preflightHeaders(opts.corsOrigins, req);
  if (preflight !== null) {
    discardBody(req);
    res.writeHead(204, { ...headers, ...preflight });
    return void res.end();
  }
  try {
    const route = routeFor(path, req.method);
    const caller = route.auth ? opts.gate.authenticate(bearerToken(req.headers.authorization), "`Authorization: Bearer <key>`") : ANONYMOUS;
    await route.handler({ req, res, headers, path, caller }, opts);
  } catch (err) {
    const e = LoomError.from(err);
    if (e.code === "internal_error") opts.log("error", "unhandled error in request", { err: e.message, stack: (err as Error)?.stack });
    opts.onError(e.code);
    if (res.headersSent) return void res.destroy();
    discardBody(req);
    sendError(res, e.toData(), headers);
  }
}

function routeFor(path: string, method: string | undefined): Route {
  const candidates = ROUTES.filter((r) => r.match(path));
  if (candidates.length === 0) throw new LoomError("not_found", `Unknown path: ${path}`);
  const route = candidates.find((r) => r.method === method);
  if (route === undefined) throw new LoomError("method_not_allowed", `Method ${method} is not allowed on ${path}.`);
  return route;
}

/** Honour a sane incoming X-Request-Id (proxies set one); otherwise make one. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && /^[\w.:-]{1,128}$/.test(given)) return given;
  return randomUUID();
}

/**
 * The body, up to `limit` bytes, as JSON. A body over the limit (declared or sent) is refused as soon as it is
 * seen; the rest is then read and discarded (discardBody) so the client can finish sending and read the 413.
 */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = (): LoomError => new LoomError("payload_too_large", `The request body exceeds ${limit} bytes.`);
  if (Number(req.headers["content-length"]) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      reject(tooLarge());
    };
    const onEnd = (): void => {
      stop();
      try {
        resolve(parseJsonText(Buffer.concat(chunks).toString("utf8")));
      } catch (err) {
        reject(err);
      }
    };
    const onError = (err: Error): void => {
      stop();
      reject(new LoomError("cancelled", `The request body could not be read: ${err.message}`));
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
  });
}

/** Most unread body bytes we read and drop after an early answer before giving up on the connection. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Answering before the whole body arrived and then closing makes the kernel reset the connection while the client
 * is still sending, and the client may never read the answer. So keep reading and dropping the rest (the connection
 * stays usable afterwards); only past DISCARD_LIMIT_BYTES is the socket closed.
 */
function discardBody(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_LIMIT_BYTES) req.socket.destroy();
  });
  req.resume();
}

/** A valid generation request: refused while draining, else admitted by its key's budget (whose headers it carries). */
function generationContext(s: RequestScope, opts: HttpServerOptions): GenerationContext {
  if (!opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
  const limits = opts.gate.admit(s.caller);
  return {
    engine: opts.engine,
    req: s.req,
    res: s.res,
    headers: { ...s.headers, ...limits },
    deadlineAt: Date.now() + opts.requestTimeoutMs,
    caller: s.caller,
  };
}

async function chatCompletions(s: RequestScope, opts: HttpServerOptions): Promise<void> {
  const parsed = parseChatRequest(await readJson(s.req, opts.bodyLimitBytes));
  const ctx = generationContext(s, opts);
  await runGeneration(ctx, parsed, new ChatRenderer(newIdentity("chatcmpl", parsed.request.model), parsed.logprobs));
}

async function completions(s: RequestScope, opts: HttpServerOptions): Promise<void> {
  const parsed = parseCompletionRequest(await readJson(s.req, opts.bodyLimitBytes));
  const ctx = generationContext(s, opts);
  await runGeneration(ctx, parsed, new CompletionRenderer(newIdentity("cmpl", parsed.request.model), parsed.logprobs));
}

/** vLLM's POST /tokenize: the ids a generation with this prompt (or these chat messages) would see. */
async function tokenize(s: RequestScope, opts: HttpServerOptions): Promise<void> {
  const req = parseTokenizeRequest(await readJson(s.req, opts.bodyLimitBytes));
  const { tokens, tokenStrs } = await opts.engine.tokenize(req);
  sendJson(s.res, 200, { count: tokens.length, max_model_len: opts.engine.maxContext(req.model), tokens, token_strs: tokenStrs }, s.headers);
}

function listModels(s: RequestScope, opts: HttpServerOptions): void {
  const data = opts.engine.listModels().map((m) => modelObject(m.id, m.created, "loom", m.info?.slotContextSize));
  sendJson(s.res, 200, { object: "list", data }, s.headers);
}

function getModel(s: RequestScope, opts: HttpServerOptions): void {
  const id = decodePathSegment(s.path.slice("/v1/models/".length), "model");
  const m = opts.engine.listModels().find((x) => x.id === id);
  if (m === undefined) throw modelNotFound(id);
  sendJson(s.res, 200, modelObject(m.id, m.created, "loom", m.info?.slotContextSize), s.headers);
}

/** A percent-encoded path segment; a malformed escape (`%zz`, a lone `%`) is the client's 400, not a throw. */
function decodePathSegment(raw: string, param: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new LoomError("invalid_request", `The path segment ${echo(raw)} is not valid percent-encoding.`, param);
  }
}

function status(s: RequestScope, opts: HttpServerOptions): void {
  sendJson(s.res, 200, { accepting: opts.accepting(), grpcPort: opts.grpcPort(), mainThread: opts.mainThread(), ...opts.engine.status() }, s.headers);
}

async function metrics(s: RequestScope, opts: HttpServerOptions): Promise<void> {
  const text = await opts.metrics.scrape();
  s.res.writeHead(200, { ...s.headers, "content-type": opts.metrics.contentType() });
  s.res.end(text);
}

/**
 * Liveness: 200 while the process runs, unless a model's engine is in a crash loop (the supervisor gave up): then
 * 503, so an orchestrator restarts the server instead of leaving that model down behind a live process.
 */
function health(s: RequestScope, opts: HttpServerOptions): void {
  const down = opts.engine.crashLooping();
  if (down.length === 0) return sendJson(s.res, 200, { status: "ok" }, s.headers);
  sendJson(s.res, 503, { status: "engine_crash_loop", models: down }, s.headers);
}

function ready(s: RequestScope, opts: HttpServerOptions): void {
  if (opts.accepting() && opts.engine.ready) return sendJson(s.res, 200, { status: "ready" }, s.headers);
  sendError(s.res, new LoomError("unavailable", "Not ready: loading, draining, or a model has no engine up (restarting).").toData(), s.headers);
}

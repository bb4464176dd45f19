// WebSocket transport: `GET /v1/realtime?model=…` upgraded on the HTTP port (ws, noServer). Authenticates like the
// HTTP API (bearer header, or the Realtime API's browser subprotocol `openai-insecure-api-key.<key>`), then hands
// frames to a RealtimeSession. Bad JSON and binary frames get an `error` event; the connection stays open.

import { STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Engine } from "../../engine/engine.js";
import { echo, ERROR_TABLE, LoomError, modelNotFound, RETRY_AFTER_SECONDS, toOpenAIErrorBody, type ErrorCode, type ErrorData } from "../../errors.js";
import { parseJsonText } from "../../request/parse-json.js";
import { RealtimeSession } from "./realtime-session.js";
import { bearerToken, type Caller, type Gatekeeper } from "../../admission/gatekeeper.js";

export interface WsServerOptions {
  readonly engine: Engine;
  readonly gate: Gatekeeper;
  readonly requestTimeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly accepting: () => boolean;
  readonly onError: (code: ErrorCode) => void;
}

export interface RunningWsServer {
  /** Close every socket (1001 going away). */
  close(): void;
}

const API_KEY_PROTOCOL = "openai-insecure-api-key.";

export function attachWsServer(http: Server, opts: WsServerOptions): RunningWsServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    // Echo a subprotocol only when the client offered one (the browser flow carries the key in it).
    handleProtocols: (protocols) => [...protocols][0] ?? false,
  });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname !== "/v1/realtime") {
        throw new LoomError("not_found", `No WebSocket endpoint at ${echo(url.pathname)}: the Realtime API is at /v1/realtime.`);
      }
      const caller = authorize(req, opts.gate);
      if (!opts.accepting()) throw new LoomError("unavailable", "The server is draining for shutdown.");
      const model = url.searchParams.get("model") ?? opts.engine.listModels()[0]?.id ?? "";
      if (!opts.engine.hasModel(model)) throw modelNotFound(model);
      wss.handleUpgrade(req, socket, head, (ws) => connect(ws, model, caller, opts));
    } catch (err) {
      const e = LoomError.from(err);
      opts.onError(e.code);
      refuse(socket, e.toData());
    }
  });
  return {
    close: () => {
      for (const ws of wss.clients) ws.close(1001, "server shutting down");
      wss.close();
    },
  };
}

function connect(ws: WebSocket, model: string, caller: Caller, opts: WsServerOptions): void {
  const session = new RealtimeSession({
    engine: opts.engine,
    gate: opts.gate,
    caller,
    model,
    requestTimeoutMs: opts.requestTimeoutMs,
    accepting: opts.accepting,
    onError: opts.onError,
    send: (event) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
    },
  });
  ws.on("message", (data, isBinary) => {
    if (isBinary) return sendError(ws, "Binary frames are not supported: send JSON text events.", opts);
    let event: unknown;
    try {
      event = parseJsonText(data.toString(), "frame");
    } catch (err) {
      return sendError(ws, LoomError.from(err).message, opts);
    }
    session.handle(event);
  });
  ws.on("close", () => session.close());
  ws.on("error", () => session.close());
}

function sendError(ws: WebSocket, message: string, opts: WsServerOptions): void {
  opts.onError("invalid_json");
  const error = toOpenAIErrorBody({ code: "invalid_json", message, param: null }).error;
  ws.send(JSON.stringify({ type: "error", event_id: `event_${Date.now().toString(36)}`, error: { ...error, event_id: null } }));
}

/** Bearer header, or the Realtime API's browser subprotocol `openai-insecure-api-key.<key>` (browsers cannot set headers). */
function authorize(req: IncomingMessage, gate: Gatekeeper): Caller {
  const protocols = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  const fromProtocol = protocols.find((p) => p.startsWith(API_KEY_PROTOCOL))?.slice(API_KEY_PROTOCOL.length) ?? "";
  return gate.authenticate(
    bearerToken(req.headers.authorization) || fromProtocol,
    "`Authorization: Bearer <key>` or the `openai-insecure-api-key.<key>` subprotocol",
  );
}

/** An upgrade we will not accept gets a plain HTTP answer, shaped and coded like every other refusal (errors.ts). */
function refuse(socket: Duplex, err: ErrorData): void {
  const row = ERROR_TABLE[err.code];
  const body = JSON.stringify(toOpenAIErrorBody(err));
  const retry = row.retryable ? `Retry-After: ${RETRY_AFTER_SECONDS}\r\n` : "";
  const head = `HTTP/1.1 ${row.httpStatus} ${STATUS_CODES[row.httpStatus] ?? ""}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n`;
  socket.end(head + body);
}

// The one error type of Loom and the one table that maps each error code onto every transport.
// Transports call toHttpError()/grpcStatusFor(); nothing else decides a status code. Errors cross the worker
// boundary as plain {code, message, param} data (class identity does not survive structured clone).

export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "context_length_exceeded"
  | "invalid_api_key"
  | "model_not_found"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "queue_full"
  | "rate_limit_exceeded"
  | "unavailable"
  | "deadline_exceeded"
  | "cancelled"
  | "engine_failure"
  | "internal_error";

/** gRPC status codes we use (numeric values from the gRPC spec; kept here so the table needs no grpc import). */
export const GrpcCode = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

/** The Retry-After (seconds) sent with every retryable refusal, on HTTP and on a refused WebSocket upgrade. */
export const RETRY_AFTER_SECONDS = 1;

export interface ErrorMapping {
  readonly httpStatus: number;
  /** OpenAI `error.type`. */
  readonly openaiType: string;
  readonly grpcCode: GrpcCodeValue;
  /** Send Retry-After with this response (429/503). */
  readonly retryable: boolean;
  /** One line for the README's error table. */
  readonly doc: string;
}

export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorMapping>> = {
  invalid_request: {
    httpStatus: 400,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    doc: "A field is missing, of the wrong type or out of range; `param` names it.",
  },
  invalid_json: {
    httpStatus: 400,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    doc: "The body is not valid JSON (or not a JSON object).",
  },
  context_length_exceeded: {
    httpStatus: 400,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.INVALID_ARGUMENT,
    retryable: false,
    doc: "Prompt plus requested output does not fit one slot's context; rejected before it takes a slot.",
  },
  invalid_api_key: {
    httpStatus: 401,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.UNAUTHENTICATED,
    retryable: false,
    doc: "`--api-key` is set and the request's bearer token does not match.",
  },
  model_not_found: {
    httpStatus: 404,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.NOT_FOUND,
    retryable: false,
    doc: "The `model` named is not served here.",
  },
  not_found: { httpStatus: 404, openaiType: "invalid_request_error", grpcCode: GrpcCode.NOT_FOUND, retryable: false, doc: "Unknown path." },
  method_not_allowed: {
    httpStatus: 405,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.UNIMPLEMENTED,
    retryable: false,
    doc: "Known path, wrong HTTP method.",
  },
  payload_too_large: {
    httpStatus: 413,
    openaiType: "invalid_request_error",
    grpcCode: GrpcCode.RESOURCE_EXHAUSTED,
    retryable: false,
    doc: "The body exceeds the server's body limit.",
  },
  queue_full: {
    httpStatus: 429,
    openaiType: "rate_limit_exceeded",
    grpcCode: GrpcCode.RESOURCE_EXHAUSTED,
    retryable: true,
    doc: "Admission queue is full; retry after the Retry-After seconds.",
  },
  rate_limit_exceeded: {
    httpStatus: 429,
    openaiType: "rate_limit_exceeded",
    grpcCode: GrpcCode.RESOURCE_EXHAUSTED,
    retryable: true,
    doc: "The API key's requests or tokens per minute are used up; Retry-After says when the budget admits it again.",
  },
  unavailable: {
    httpStatus: 503,
    openaiType: "unavailable_error",
    grpcCode: GrpcCode.UNAVAILABLE,
    retryable: true,
    doc: "Loading, draining for shutdown, or no engine of the model is up (restarting).",
  },
  deadline_exceeded: {
    httpStatus: 504,
    openaiType: "timeout_error",
    grpcCode: GrpcCode.DEADLINE_EXCEEDED,
    retryable: false,
    doc: "The request's deadline passed before it finished.",
  },
  cancelled: {
    httpStatus: 499,
    openaiType: "cancelled",
    grpcCode: GrpcCode.CANCELLED,
    retryable: false,
    doc: "The client went away or cancelled; no body is sent.",
  },
  engine_failure: {
    httpStatus: 500,
    openaiType: "server_error",
    grpcCode: GrpcCode.INTERNAL,
    retryable: false,
    doc: "The engine running this request died (its process crashed or was killed); it is restarted.",
  },
  internal_error: { httpStatus: 500, openaiType: "server_error", grpcCode: GrpcCode.INTERNAL, retryable: false, doc: "A bug in Loom." },
};

/** Plain-data form of an error: what crosses worker boundaries and wire protocols. */
export interface ErrorData {
  readonly code: ErrorCode;
  readonly message: string;
  readonly param: string | null;
  /** Seconds to wait (a rate limit's own; otherwise RETRY_AFTER_SECONDS for retryable codes). */
  readonly retryAfterSeconds?: number;
  /** Extra response headers (a rate limit's x-ratelimit-*). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type ErrorExtras = Pick<ErrorData, "retryAfterSeconds" | "headers">;

export class LoomError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly extras: ErrorExtras;

  constructor(code: ErrorCode, message: string, param: string | null = null, extras: ErrorExtras = {}) {
    super(message);
    this.name = "LoomError";
    this.code = code;
    this.param = param;
    this.extras = extras;
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message, param: this.param, ...this.extras };
  }

  static fromData(data: ErrorData): LoomError {
    const { code, message, param, ...extras } = data;
    return new LoomError(code, message, param, extras);
  }

  /** Anything thrown, as a LoomError; unknown throwables become internal_error with their message. */
  static from(err: unknown): LoomError {
    if (err instanceof LoomError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new LoomError("internal_error", message);
  }
}

/** Longest value an error message quotes back (a model name, a field value): a client must not grow the reply. */
export const MAX_ECHO_CHARS = 80;
/** Longest error message any transport sends (a gRPC status message travels in an HTTP/2 trailer). */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/**
 * A client value as error text: JSON-like, at most `max` characters, safe for any nesting depth or size (it never
 * recurses deeper than a few levels and never serializes more than it shows, so it cannot throw).
 */
export function echo(value: unknown, max = MAX_ECHO_CHARS): string {
  return cut(render(value, 8, max + 1), max);
}

function render(value: unknown, depth: number, budget: number): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return JSON.stringify(value.slice(0, budget));
  if (typeof value !== "object" || value === null) return String(value);
  if (depth === 0) return Array.isArray(value) ? "[...]" : "{...}";
  const open = Array.isArray(value) ? "[" : "{";
  let out = open;
  for (const key of Object.keys(value)) {
    if (out.length >= budget) break;
    const item = render((value as Record<string, unknown>)[key], depth - 1, budget - out.length);
    out += `${out === open ? "" : ","}${Array.isArray(value) ? "" : `${JSON.stringify(key.slice(0, budget))}:`}${item}`;
  }
  return out + (Array.isArray(value) ? "]" : "}");
}

/** A client-given name in backticks, cut to a short bound. */
export function quoteName(name: unknown): string {
  const text = typeof name === "string" ? name : echo(name);
  return `\`${cut(text, MAX_ECHO_CHARS)}\``;
}

/** The one 404 for a model that is not served here. */
export function modelNotFound(model: unknown, param = "model"): LoomError {
  return new LoomError("model_not_found", `The model ${quoteName(model)} does not exist.`, param);
}

function boundedMessage(message: string): string {
  return cut(message, MAX_ERROR_MESSAGE_CHARS);
}

/** At most `max` characters, "..." marking a cut. */
function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** OpenAI error body (see shared facts, openai-contract §1.7): code is a string, never the HTTP status. */
export interface OpenAIErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string | null };
}

export function toOpenAIErrorBody(err: ErrorData): OpenAIErrorBody {
  const row = ERROR_TABLE[err.code];
  return { error: { message: boundedMessage(err.message), type: row.openaiType, param: err.param, code: publicCode(err.code) } };
}

/** The `code` string clients see: OpenAI's names where OpenAI has one. */
function publicCode(code: ErrorCode): string {
  if (code === "invalid_request" || code === "invalid_json") return "invalid_request_error";
  return code;
}

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_TABLE[code].httpStatus;
}

/** The status message a gRPC client gets: the error's message, bounded like every other transport's. */
export function grpcMessageFor(err: ErrorData): string {
  return boundedMessage(err.message);
}

export function grpcStatusFor(code: ErrorCode): GrpcCodeValue {
  return ERROR_TABLE[code].grpcCode;
}

/** The gRPC status code's name (INVALID_ARGUMENT, …), for errors sent inside a stream rather than as its status. */
export function grpcStatusNameFor(code: ErrorCode): keyof typeof GrpcCode {
  const value = grpcStatusFor(code);
  const name = (Object.keys(GrpcCode) as (keyof typeof GrpcCode)[]).find((k) => GrpcCode[k] === value);
  return name ?? "UNKNOWN";
}

// Unit tests for src/errors.ts: the one ERROR_TABLE (a row for every ErrorCode, sensible HTTP/gRPC classes, Retry-After
// only for 429/503), the OpenAI error body shape, LoomError's wrapping and plain-data round trip, and that the README's
// error table lists every code (when a README exists).
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  echo,
  ERROR_TABLE,
  GrpcCode,
  grpcMessageFor,
  LoomError,
  MAX_ECHO_CHARS,
  MAX_ERROR_MESSAGE_CHARS,
  modelNotFound,
  grpcStatusFor,
  grpcStatusNameFor,
  httpStatusFor,
  toOpenAIErrorBody,
  type ErrorCode,
  type ErrorData,
} from "../../src/errors.js";

/** Every ErrorCode, spelled out: adding a code to the union without listing it here is a compile error below. */
const ALL_CODES = [
  "invalid_request",
  "invalid_json",
  "context_length_exceeded",
  "invalid_api_key",
  "model_not_found",
  "not_found",
  "method_not_allowed",
  "payload_too_large",
  "queue_full",
  "rate_limit_exceeded",
  "unavailable",
  "deadline_exceeded",
  "cancelled",
  "engine_failure",
  "internal_error",
] as const satisfies readonly ErrorCode[];
// Exhaustiveness in the other direction: fails to compile if ErrorCode has a member missing from ALL_CODES.
const exhaustive: Exclude<ErrorCode, (typeof ALL_CODES)[number]> extends never ? true : never = true;

const README = new URL("../../README.md", import.meta.url);
/** The README's error table, if it has one: its rows look like "| `code` | ...". */
const README_TEXT = existsSync(README) ? readFileSync(README, "utf8") : "";
const HAS_ERROR_TABLE = /^\|\s*`[a-z_]+`\s*\|/m.test(README_TEXT);

describe("ERROR_TABLE", () => {
  it("has exactly one row per ErrorCode", () => {
    expect(exhaustive).toBe(true);
    expect(Object.keys(ERROR_TABLE).sort()).toEqual([...ALL_CODES].sort());
  });

  it.each(ALL_CODES)("%s: status in a sensible class, with type, gRPC code and doc", (code) => {
    const row = ERROR_TABLE[code];
    expect(row.httpStatus).toBeGreaterThanOrEqual(400);
    expect(row.httpStatus).toBeLessThan(600);
    expect(row.openaiType).toMatch(/^[a-z_]+$/);
    expect(Object.values(GrpcCode)).toContain(row.grpcCode);
    expect(row.doc.length).toBeGreaterThan(5);
    expect(httpStatusFor(code)).toBe(row.httpStatus);
    expect(grpcStatusFor(code)).toBe(row.grpcCode);
  });

  it.each(ALL_CODES)("%s: retryable exactly when the status is 429 or 503", (code) => {
    const { httpStatus, retryable } = ERROR_TABLE[code];
    expect(retryable).toBe(httpStatus === 429 || httpStatus === 503);
  });

  it("client mistakes are 4xx and server faults 5xx", () => {
    const status = (c: ErrorCode): number => ERROR_TABLE[c].httpStatus;
    for (const c of ["invalid_request", "invalid_json", "context_length_exceeded"] as const) expect(status(c)).toBe(400);
    expect(status("invalid_api_key")).toBe(401);
    expect(status("model_not_found")).toBe(404);
    expect(status("not_found")).toBe(404);
    expect(status("method_not_allowed")).toBe(405);
    expect(status("payload_too_large")).toBe(413);
    expect(status("queue_full")).toBe(429);
    expect(status("unavailable")).toBe(503);
    expect(status("deadline_exceeded")).toBe(504);
    expect(status("engine_failure")).toBe(500);
    expect(status("internal_error")).toBe(500);
  });

  it("gRPC codes follow the HTTP class", () => {
    expect(grpcStatusFor("invalid_request")).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(grpcStatusFor("invalid_api_key")).toBe(GrpcCode.UNAUTHENTICATED);
    expect(grpcStatusFor("queue_full")).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(grpcStatusFor("unavailable")).toBe(GrpcCode.UNAVAILABLE);
    expect(grpcStatusFor("deadline_exceeded")).toBe(GrpcCode.DEADLINE_EXCEEDED);
    expect(grpcStatusFor("cancelled")).toBe(GrpcCode.CANCELLED);
    expect(grpcStatusFor("internal_error")).toBe(GrpcCode.INTERNAL);
  });

  it("names each code's gRPC status (for errors sent inside a stream)", () => {
    for (const code of Object.keys(ERROR_TABLE) as ErrorCode[]) expect(GrpcCode[grpcStatusNameFor(code)]).toBe(grpcStatusFor(code));
    expect([grpcStatusNameFor("invalid_request"), grpcStatusNameFor("model_not_found")]).toEqual(["INVALID_ARGUMENT", "NOT_FOUND"]);
  });
});

describe("toOpenAIErrorBody", () => {
  it.each(ALL_CODES)("%s: {error:{message,type,param,code}} with a string code, never the status", (code) => {
    const body = toOpenAIErrorBody({ code, message: `m-${code}`, param: "p" });
    expect(Object.keys(body)).toEqual(["error"]);
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(body.error.message).toBe(`m-${code}`);
    expect(body.error.type).toBe(ERROR_TABLE[code].openaiType);
    expect(body.error.param).toBe("p");
    expect(typeof body.error.code).toBe("string");
    expect(body.error.code).not.toBe(String(ERROR_TABLE[code].httpStatus));
  });

  it("uses OpenAI's names for validation errors and the Loom code elsewhere", () => {
    const code = (c: ErrorCode): string | null => toOpenAIErrorBody({ code: c, message: "x", param: null }).error.code;
    expect(code("invalid_request")).toBe("invalid_request_error");
    expect(code("invalid_json")).toBe("invalid_request_error");
    expect(code("context_length_exceeded")).toBe("context_length_exceeded");
    expect(code("model_not_found")).toBe("model_not_found");
  });

  it("keeps a null param as null (valid JSON, not omitted)", () => {
    const body = toOpenAIErrorBody({ code: "not_found", message: "nope", param: null });
    expect(JSON.parse(JSON.stringify(body))).toEqual({
      error: { message: "nope", type: "invalid_request_error", param: null, code: "not_found" },
    });
  });
});

describe("LoomError", () => {
  it("is an Error carrying code, message and param (param defaults to null)", () => {
    const e = new LoomError("queue_full", "busy");
    expect(e).toBeInstanceOf(Error);
    expect({ name: e.name, code: e.code, message: e.message, param: e.param }).toEqual({
      name: "LoomError",
      code: "queue_full",
      message: "busy",
      param: null,
    });
  });

  it("toData/fromData round trip through structured clone", () => {
    const data: ErrorData = { code: "invalid_request", message: "bad temperature", param: "temperature" };
    const back = LoomError.fromData(structuredClone(new LoomError(data.code, data.message, data.param).toData()));
    expect(back).toBeInstanceOf(LoomError);
    expect(back.toData()).toEqual(data);
  });

  it("from() returns a LoomError unchanged", () => {
    const e = new LoomError("unavailable", "draining");
    expect(LoomError.from(e)).toBe(e);
  });

  it("from() wraps other throwables as internal_error with their message", () => {
    expect(LoomError.from(new TypeError("boom")).toData()).toEqual({ code: "internal_error", message: "boom", param: null });
    expect(LoomError.from("plain string").toData()).toEqual({ code: "internal_error", message: "plain string", param: null });
    expect(LoomError.from(42).message).toBe("42");
    expect(LoomError.from(undefined).code).toBe("internal_error");
    expect(LoomError.from(null).message).toBe("null");
  });
});

describe("README error table", () => {
  // Every ErrorCode must have a row in the README's error table ("| `code` |").
  it("lists every ErrorCode", () => {
    expect(HAS_ERROR_TABLE).toBe(true);
    const missing = ALL_CODES.filter((code) => !README_TEXT.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });
});

describe("what errors echo of client values", () => {
  const nested = (depth: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = [v];
    return v;
  };

  it("echo() renders values JSON-like, bounded, and survives any depth or size", () => {
    expect(echo({ a: [1, "x"], b: null })).toBe('{"a":[1,"x"],"b":null}');
    expect(echo(undefined)).toBe("undefined");
    expect(() => echo(nested(100_000))).not.toThrow();
    expect(echo(nested(100_000)).length).toBeLessThanOrEqual(MAX_ECHO_CHARS);
    expect(echo("x".repeat(1_000_000)).length).toBe(MAX_ECHO_CHARS);
    expect(echo(Array.from({ length: 100_000 }, (_, i) => i)).endsWith("...")).toBe(true);
  });

  it("modelNotFound() cuts a long name short", () => {
    const e = modelNotFound("m".repeat(100_000));
    expect(e.code).toBe("model_not_found");
    expect(e.message.length).toBeLessThan(MAX_ECHO_CHARS + 40);
    expect(modelNotFound("tiny", "session.model").toData()).toEqual({
      code: "model_not_found",
      message: "The model `tiny` does not exist.",
      param: "session.model",
    });
  });

  it("every transport's message is bounded", () => {
    const data = new LoomError("invalid_request", "y".repeat(100_000)).toData();
    expect(toOpenAIErrorBody(data).error.message.length).toBe(MAX_ERROR_MESSAGE_CHARS);
    expect(grpcMessageFor(data).length).toBe(MAX_ERROR_MESSAGE_CHARS);
  });
});

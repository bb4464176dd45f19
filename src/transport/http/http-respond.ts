// Plain JSON responses and OpenAI-shaped errors for the HTTP transport. Every error body and status comes from
// errors.ts' one table; Retry-After goes with 429/503 because the official SDK retries those.

import type { ServerResponse } from "node:http";
import { ERROR_TABLE, RETRY_AFTER_SECONDS, toOpenAIErrorBody, type ErrorData } from "../../errors.js";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ErrorData, headers: Readonly<Record<string, string>> = {}): void {
  const row = ERROR_TABLE[err.code];
  const withLimits = { ...headers, ...err.headers };
  const extra = row.retryable ? { ...withLimits, "retry-after": String(err.retryAfterSeconds ?? RETRY_AFTER_SECONDS) } : withLimits;
  sendJson(res, row.httpStatus, toOpenAIErrorBody(err), extra);
}

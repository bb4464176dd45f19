// CORS for browser clients, off unless origins are configured (--cors-origin): then a request from an allowed origin
// gets Access-Control-Allow-Origin (and the headers a client reads exposed), and a preflight from one is answered
// 204 with the methods and the headers it asked for. Anything else gets no CORS headers, so the browser blocks it.

import type { IncomingMessage } from "node:http";

/** Response headers a browser client may read: request id, retry hints, rate limits. */
const EXPOSED = [
  "x-request-id",
  "retry-after",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
].join(", ");

/** Headers a preflight may ask for: tokens of letters, digits and dashes, at most this many characters in all. */
const MAX_REQUESTED_HEADERS_CHARS = 2048;

/** The CORS headers for this request's Origin, or {} when CORS is off or the origin is not allowed. */
export function corsHeaders(allowed: readonly string[], req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (allowed.length === 0 || typeof origin !== "string") return {};
  const any = allowed.includes("*");
  if (!any && !allowed.includes(origin)) return {};
  return { "access-control-allow-origin": any ? "*" : origin, vary: "Origin", "access-control-expose-headers": EXPOSED };
}

/** A CORS preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin: its 204 headers; else null. */
export function preflightHeaders(allowed: readonly string[], req: IncomingMessage): Record<string, string> | null {
  if (req.method !== "OPTIONS" || typeof req.headers["access-control-request-method"] !== "string") return null;
  const base = corsHeaders(allowed, req);
  if (Object.keys(base).length === 0) return null;
  const asked = String(req.headers["access-control-request-headers"] ?? "").slice(0, MAX_REQUESTED_HEADERS_CHARS);
  const headers = asked
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => /^[a-z0-9-]+$/.test(h));
  return {
    ...base,
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": headers.length > 0 ? headers.join(", ") : "authorization, content-type",
    "access-control-max-age": "600",
  };
}

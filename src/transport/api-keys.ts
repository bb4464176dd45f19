// API-key checking shared by every transport: bearer-token parsing and a constant-time comparison against the
// configured keys (an empty list means no auth). Each transport only says where its token comes from.

import { timingSafeEqual } from "node:crypto";
import { LoomError } from "../errors.js";

/** The token of an `Authorization: Bearer <token>` value, or "" when there is none. */
export function bearerToken(header: unknown): string {
  return typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7).trim() : "";
}

/** Throws invalid_api_key unless `token` equals one of `keys` (compared in constant time). */
export function checkApiKey(keys: readonly string[], token: string, how: string): void {
  if (keys.length === 0) return;
  const given = Buffer.from(token);
  const ok = keys.some((k) => {
    const want = Buffer.from(k);
    return want.length === given.length && timingSafeEqual(want, given);
  });
  if (!ok) throw new LoomError("invalid_api_key", `Incorrect API key provided. Pass it as ${how}.`);
}

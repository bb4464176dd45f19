// Gatekeeper: who a request is (its API key, compared in constant time against every configured key) and whether
// its key's budget admits it now (rate-limiter.ts). Every transport asks the same gatekeeper; only where the bearer
// token comes from differs. Keys are never logged: a caller is known by its key's name.

import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { echo, LoomError } from "../errors.js";
import { RateLimiter, type RateLimits } from "./rate-limiter.js";

export interface ApiKeyEntry {
  readonly key: string;
  /** What logs, metrics and limits call this key. */
  readonly name: string;
  readonly limits: RateLimits;
  /** KV is shared only among requests whose key has the same salt (a tenant's cache is its own); null: none. */
  readonly cacheSalt: string | null;
}

/** The caller of a request: its key's entry, or the anonymous caller when no key is configured. */
export interface Caller {
  readonly name: string;
  readonly cacheSalt: string | null;
}

export const ANONYMOUS: Caller = { name: "anonymous", cacheSalt: null };
const UNLIMITED: RateLimits = { rpm: null, tpm: null };

/** The bearer token of an `Authorization: Bearer <token>` value, or "" when there is none. */
export function bearerToken(header: unknown): string {
  return typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7).trim() : "";
}

export class Gatekeeper {
  private readonly limiter: RateLimiter;
  private readonly byName = new Map<string, ApiKeyEntry>();

  constructor(
    private readonly keys: readonly ApiKeyEntry[],
    private readonly now: () => number = Date.now,
  ) {
    for (const k of keys) this.byName.set(k.name, k);
    this.limiter = new RateLimiter((name) => this.byName.get(name)?.limits ?? UNLIMITED);
  }

  /** The caller `token` belongs to; invalid_api_key unless it matches a key (any token passes when none is set). */
  authenticate(token: string, how: string): Caller {
    if (this.keys.length === 0) return ANONYMOUS;
    const given = Buffer.from(token);
    let found: ApiKeyEntry | null = null;
    // Every key is compared, so the time taken does not say which one matched or how far.
    for (const k of this.keys) {
      const want = Buffer.from(k.key);
      if (want.length === given.length && timingSafeEqual(want, given) && found === null) found = k;
    }
    if (found === null) throw new LoomError("invalid_api_key", `Incorrect API key provided. Pass it as ${how}.`);
    return { name: found.name, cacheSalt: found.cacheSalt };
  }

  /** Admit one generation of `caller` now (its x-ratelimit-* headers), or throw rate_limit_exceeded. */
  admit(caller: Caller): Record<string, string> {
    const d = this.limiter.admit(caller.name, this.now());
    if (d.ok) return d.headers;
    const limit = d.which === "requests" ? "requests per minute" : "tokens per minute";
    throw new LoomError(
      "rate_limit_exceeded",
      `Rate limit reached for ${limit} of key \`${caller.name}\`. Please try again in ${d.retryAfterSeconds}s.`,
      null,
      {
        retryAfterSeconds: d.retryAfterSeconds,
        headers: d.headers,
      },
    );
  }

  /** A request of `caller` finished: its prompt and completion tokens count against its tokens per minute. */
  charge(callerName: string, tokens: number): void {
    this.limiter.charge(callerName, tokens, this.now());
  }
}

/** `--api-key` values: unlimited keys named key-1, key-2, … */
export function flagKeys(keys: readonly string[]): ApiKeyEntry[] {
  return keys.map((key, i) => ({ key, name: `key-${i + 1}`, limits: UNLIMITED, cacheSalt: null }));
}

/**
 * `--api-key-file`: JSON `{"keys": [{"key", "name", "rpm"?, "tpm"?, "cache_salt"?}, …]}`. Throws with the entry
 * at fault (never its key) when the file is unreadable or an entry is malformed.
 */
export function loadKeyFile(path: string): ApiKeyEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`--api-key-file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const list = typeof doc === "object" && doc !== null && "keys" in doc ? (doc as { keys: unknown }).keys : undefined;
  if (!Array.isArray(list)) throw new Error(`--api-key-file ${path}: expected {"keys": [...]}`);
  const names = new Set<string>();
  return list.map((raw: unknown, i) => {
    const where = `--api-key-file ${path}: keys[${i}]`;
    if (typeof raw !== "object" || raw === null) throw new Error(`${where} must be an object`);
    const e = raw as Record<string, unknown>;
    if (typeof e["key"] !== "string" || e["key"].length < 8) throw new Error(`${where}.key must be a string of at least 8 characters`);
    if (typeof e["name"] !== "string" || !/^[\w.-]{1,64}$/.test(e["name"])) throw new Error(`${where}.name must be 1-64 letters, digits, _ . or -`);
    if (names.has(e["name"])) throw new Error(`${where}.name ${echo(e["name"])} is used twice`);
    names.add(e["name"]);
    const salt = e["cache_salt"];
    if (salt !== undefined && (typeof salt !== "string" || salt === "")) throw new Error(`${where}.cache_salt must be a non-empty string`);
    return {
      key: e["key"],
      name: e["name"],
      limits: { rpm: perMinute(e["rpm"], `${where}.rpm`), tpm: perMinute(e["tpm"], `${where}.tpm`) },
      cacheSalt: salt ?? null,
    };
  });
}

function perMinute(value: unknown, where: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw new Error(`${where} must be a positive integer`);
  return value;
}

// Per-caller request and token budgets (an API key's requests-per-minute and tokens-per-minute), as token buckets
// that refill continuously: a caller may burst up to a minute's allowance, then runs at the rate. Requests are
// counted when admitted; tokens (prompt + completion) when the request finishes, so a bucket can go into debt and
// the caller waits until it refills above zero. Pure: the clock is passed in. OpenAI's x-ratelimit-* headers.

export interface RateLimits {
  /** Requests per minute; null = unlimited. */
  readonly rpm: number | null;
  /** Prompt + completion tokens per minute; null = unlimited. */
  readonly tpm: number | null;
}

export type RateDecision =
  | { readonly ok: true; readonly headers: Record<string, string> }
  | { readonly ok: false; readonly headers: Record<string, string>; readonly retryAfterSeconds: number; readonly which: "requests" | "tokens" };

class Bucket {
  private level: number;
  private at: number;

  constructor(
    readonly perMinute: number,
    now: number,
  ) {
    this.level = perMinute;
    this.at = now;
  }

  /** The level now (refilled since the last look, capped at a minute's allowance). */
  read(now: number): number {
    this.level = Math.min(this.perMinute, this.level + ((now - this.at) * this.perMinute) / 60_000);
    this.at = now;
    return this.level;
  }

  take(n: number, now: number): void {
    this.read(now);
    this.level -= n;
  }

  /** ms until the level reaches `target`. */
  msUntil(target: number, now: number): number {
    const level = this.read(now);
    return level >= target ? 0 : ((target - level) * 60_000) / this.perMinute;
  }
}

export class RateLimiter {
  private readonly requests = new Map<string, Bucket>();
  private readonly tokens = new Map<string, Bucket>();

  constructor(private readonly limitsOf: (caller: string) => RateLimits) {}

  /** Admit one request of `caller` now, or say how long to wait. */
  admit(caller: string, now: number): RateDecision {
    const limits = this.limitsOf(caller);
    const req = limits.rpm === null ? null : bucket(this.requests, caller, limits.rpm, now);
    const tok = limits.tpm === null ? null : bucket(this.tokens, caller, limits.tpm, now);
    const waitRequests = req?.msUntil(1, now) ?? 0;
    const waitTokens = tok === null || tok.read(now) > 0 ? 0 : tok.msUntil(Number.MIN_VALUE, now);
    if (waitRequests > 0 || waitTokens > 0) {
      const which = waitRequests >= waitTokens ? "requests" : "tokens";
      return {
        ok: false,
        headers: headersOf(req, tok, now),
        retryAfterSeconds: Math.max(1, Math.ceil(Math.max(waitRequests, waitTokens) / 1000 - 1e-9)),
        which,
      };
    }
    req?.take(1, now);
    return { ok: true, headers: headersOf(req, tok, now) };
  }

  /** A request of `caller` finished having used `n` tokens. */
  charge(caller: string, n: number, now: number): void {
    const tpm = this.limitsOf(caller).tpm;
    if (tpm !== null && n > 0) bucket(this.tokens, caller, tpm, now).take(n, now);
  }
}

function bucket(map: Map<string, Bucket>, caller: string, perMinute: number, now: number): Bucket {
  let b = map.get(caller);
  if (b === undefined) {
    b = new Bucket(perMinute, now);
    map.set(caller, b);
  }
  return b;
}

/** OpenAI's names: limit, remaining and time to a full bucket, for requests and for tokens. */
function headersOf(req: Bucket | null, tok: Bucket | null, now: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [kind, b] of [
    ["requests", req],
    ["tokens", tok],
  ] as const) {
    if (b === null) continue;
    out[`x-ratelimit-limit-${kind}`] = String(b.perMinute);
    out[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(b.read(now))));
    out[`x-ratelimit-reset-${kind}`] = `${Math.ceil(b.msUntil(b.perMinute, now) / 1000)}s`;
  }
  return out;
}

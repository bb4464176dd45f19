// Unit tests for the gatekeeper and its rate limiter (a fake clock): keys compared against every configured key,
// anonymous callers when none is set; requests per minute as a refilling bucket (a minute's burst, then the rate),
// tokens per minute charged at finish and admitting again once the debt is repaid; the x-ratelimit-* headers and
// Retry-After; and the key file's validation, whose messages never contain a key.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flagKeys, Gatekeeper, loadKeyFile, type ApiKeyEntry } from "../../../src/admission/gatekeeper.js";
import { LoomError } from "../../../src/errors.js";

const entry = (name: string, rpm: number | null, tpm: number | null, cacheSalt: string | null = null): ApiKeyEntry => ({
  key: `sk-${name}-secret`,
  name,
  limits: { rpm, tpm },
  cacheSalt,
});

function refusal(fn: () => unknown): LoomError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LoomError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("Gatekeeper: authentication", () => {
  it("finds the caller of a key, refuses any other token, and lets everyone in when no key is set", () => {
    const g = new Gatekeeper([entry("alpha", null, null, "tenant-a"), ...flagKeys(["sk-plain-key"])]);
    expect(g.authenticate("sk-alpha-secret", "x")).toEqual({ name: "alpha", cacheSalt: "tenant-a" });
    expect(g.authenticate("sk-plain-key", "x")).toEqual({ name: "key-1", cacheSalt: null });
    for (const bad of ["", "sk-alpha-secre", "sk-alpha-secretX", "SK-ALPHA-SECRET"])
      expect(refusal(() => g.authenticate(bad, "a header")).code).toBe("invalid_api_key");
    expect(new Gatekeeper([]).authenticate("", "x").name).toBe("anonymous");
  });
});

describe("Gatekeeper: rate limits", () => {
  it("requests per minute: a minute's burst, then one every 60/rpm seconds, with Retry-After and headers", () => {
    let now = 0;
    const g = new Gatekeeper([entry("alpha", 3, null)], () => now);
    const caller = g.authenticate("sk-alpha-secret", "x");
    const headers = [g.admit(caller), g.admit(caller), g.admit(caller)];
    expect(headers.map((h) => h["x-ratelimit-remaining-requests"])).toEqual(["2", "1", "0"]);
    expect(headers[0]?.["x-ratelimit-limit-requests"]).toBe("3");
    const e = refusal(() => g.admit(caller));
    expect(e.code).toBe("rate_limit_exceeded");
    expect(e.extras.retryAfterSeconds).toBe(20);
    expect(e.extras.headers?.["x-ratelimit-remaining-requests"]).toBe("0");
    expect(e.message).toContain("alpha");
    expect(e.message).not.toContain("secret");
    now = 19_000;
    expect(refusal(() => g.admit(caller)).extras.retryAfterSeconds).toBe(1);
    now = 20_000;
    expect(g.admit(caller)["x-ratelimit-remaining-requests"]).toBe("0");
  });

  it("tokens per minute are charged at finish; a caller in debt waits until it is repaid", () => {
    let now = 0;
    const g = new Gatekeeper([entry("beta", null, 600)], () => now);
    const caller = g.authenticate("sk-beta-secret", "x");
    expect(g.admit(caller)["x-ratelimit-remaining-tokens"]).toBe("600");
    g.charge("beta", 900); // 300 in debt: 30 s at 10 tokens/s
    const e = refusal(() => g.admit(caller));
    expect([e.code, e.extras.retryAfterSeconds]).toEqual(["rate_limit_exceeded", 30]);
    expect(e.message).toContain("tokens per minute");
    now = 30_500;
    expect(g.admit(caller)["x-ratelimit-remaining-tokens"]).toBe("5");
  });

  it("limits are per key: one key's exhaustion never refuses another; unlimited keys send no headers", () => {
    const g = new Gatekeeper([entry("a", 1, null), entry("b", 1, null), entry("free", null, null)], () => 0);
    const [a, b, free] = ["sk-a-secret", "sk-b-secret", "sk-free-secret"].map((k) => g.authenticate(k, "x")) as [
      ReturnType<Gatekeeper["authenticate"]>,
      ReturnType<Gatekeeper["authenticate"]>,
      ReturnType<Gatekeeper["authenticate"]>,
    ];
    g.admit(a);
    expect(refusal(() => g.admit(a)).code).toBe("rate_limit_exceeded");
    expect(g.admit(b)["x-ratelimit-remaining-requests"]).toBe("0");
    for (let i = 0; i < 100; i++) expect(g.admit(free)).toEqual({});
  });
});

describe("loadKeyFile", () => {
  const write = (doc: unknown): string => {
    const path = join(mkdtempSync(join(tmpdir(), "loom-keys-")), "keys.json");
    writeFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc));
    return path;
  };

  it("reads named keys with limits and salts", () => {
    const path = write({
      keys: [
        { key: "sk-0123456789", name: "team-a", rpm: 60, tpm: 10000, cache_salt: "a" },
        { key: "sk-abcdefghij", name: "team-b" },
      ],
    });
    expect(loadKeyFile(path)).toEqual([
      { key: "sk-0123456789", name: "team-a", limits: { rpm: 60, tpm: 10000 }, cacheSalt: "a" },
      { key: "sk-abcdefghij", name: "team-b", limits: { rpm: null, tpm: null }, cacheSalt: null },
    ]);
  });

  it.each([
    ["not JSON", "{", /JSON|Expected/],
    ["no keys list", { keys: 3 }, /expected \{"keys"/],
    ["short key", { keys: [{ key: "sk", name: "a" }] }, /keys\[0\]\.key/],
    ["bad name", { keys: [{ key: "sk-0123456789", name: "a b" }] }, /keys\[0\]\.name/],
    [
      "duplicate name",
      {
        keys: [
          { key: "sk-0123456789", name: "a" },
          { key: "sk-9876543210", name: "a" },
        ],
      },
      /used twice/,
    ],
    ["bad rpm", { keys: [{ key: "sk-0123456789", name: "a", rpm: 0 }] }, /keys\[0\]\.rpm/],
    ["bad salt", { keys: [{ key: "sk-0123456789", name: "a", cache_salt: "" }] }, /cache_salt/],
  ])("refuses %s, naming the entry and never the key", (_label, doc, message) => {
    let thrown: unknown;
    try {
      loadKeyFile(write(doc));
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toMatch(message);
    expect(String(thrown)).not.toContain("sk-0123456789");
  });
});

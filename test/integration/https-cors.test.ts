// HTTPS on the HTTP port (--ssl-cert-file/--ssl-key-file) with a self-signed certificate made by `openssl` at test
// time: a client trusting it gets completions and streams over https and the Realtime API over wss, a plain-HTTP
// client gets nothing, unusable PEM files stop start-up by name. And CORS: off by default (no headers, preflights
// refused), and with --cors-origin only the configured origins get headers and preflight answers.
// The HTTPS part is skipped, with the reason, where no openssl binary is installed.

import { spawnSync } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConfigError, parseServerConfig } from "../../src/config.js";
import { startServer } from "../../src/server.js";
import { createLogger } from "../../src/support/logger.js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

const HAS_OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "loom-https-"));
const certPath = join(dir, "cert.pem");
const keyPath = join(dir, "key.pem");

function makeCert(cert: string, key: string): void {
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1"];
  const r = spawnSync("openssl", [...args, "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
}

/** One HTTPS request trusting the test certificate; resolves with status, headers and body text. */
function httpsCall(url: string, path: string, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { method: "POST", ca: readFileSync(certPath), headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe.skipIf(!HAS_OPENSSL)("HTTPS (--ssl-cert-file / --ssl-key-file; skipped when no openssl binary can make the test certificate)", () => {
  let h: Harness;

  beforeAll(async () => {
    makeCert(certPath, keyPath);
    h = await startHarness(["--ssl-cert-file", certPath, "--ssl-key-file", keyPath, "--parallel", "2", "--ctx-size", "4096"]);
  });

  afterAll(async () => {
    await h?.close();
  });

  it("serves completions and SSE over https to a client that trusts the certificate", async () => {
    expect(h.url.startsWith("https://")).toBe(true);
    const body = { model: TEST_MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0 };
    const json = await httpsCall(h.url, "/v1/chat/completions", body);
    expect(json.status).toBe(200);
    expect((JSON.parse(json.text) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(3);
    const sse = await httpsCall(h.url, "/v1/chat/completions", { ...body, stream: true });
    expect(sse.text.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("serves the Realtime API over wss", async () => {
    const ws = new WebSocket(`${h.url.replace("https", "wss")}/v1/realtime?model=${TEST_MODEL}`, { ca: readFileSync(certPath) });
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once("message", (d) => resolve(JSON.parse(d.toString()) as { type: string }));
      ws.once("error", reject);
    });
    expect(first.type).toBe("session.created");
    ws.close();
  });

  it("answers nothing to a plain-HTTP client, and refuses a certificate it cannot check", async () => {
    const plain = h.url.replace("https://", "http://");
    const res = await fetch(`${plain}/health`).then(
      (r) => r.status,
      () => 0,
    );
    expect(res === 0 || res >= 400).toBe(true);
    await expect(fetch(`${h.url}/health`)).rejects.toThrow(); // self-signed: not trusted by default
  });

  it("stops start-up naming the flag when a PEM file is unusable", async () => {
    const bad = join(dir, "bad.pem");
    writeFileSync(bad, "not a certificate");
    const cfg = parseServerConfig(
      ["--model", "x=/nonexistent.gguf", "--ssl-cert-file", bad, "--ssl-key-file", keyPath, "--port", "0", "--grpc-port", "off"],
      {},
    );
    await expect(startServer(cfg, createLogger("silent"))).rejects.toThrow(ConfigError);
    await expect(startServer(cfg, createLogger("silent"))).rejects.toThrow(/--ssl-cert-file/);
  });
});

describe("CORS", () => {
  let off: Harness;
  let on: Harness;

  beforeAll(async () => {
    off = await startHarness(["--parallel", "2", "--ctx-size", "4096", "--grpc-port", "off"]);
    on = await startHarness(["--parallel", "2", "--ctx-size", "4096", "--grpc-port", "off", "--cors-origin", "https://app.example.com"]);
  });

  afterAll(async () => {
    await off?.close();
    await on?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const preflight = (url: string, origin: string): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-stainless-os" },
    });

  it("is off by default: no CORS headers, and a preflight is refused", async () => {
    const r = await fetch(`${off.url}/v1/models`, { headers: { origin: "https://app.example.com" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    const p = await preflight(off.url, "https://app.example.com");
    expect(p.status).toBeGreaterThanOrEqual(400);
    expect(p.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("with --cors-origin: the allowed origin gets headers on responses and errors, and its preflight a 204", async () => {
    const origin = "https://app.example.com";
    const r = await fetch(`${on.url}/v1/models`, { headers: { origin } });
    expect([r.headers.get("access-control-allow-origin"), r.headers.get("vary")]).toEqual([origin, "Origin"]);
    expect(r.headers.get("access-control-expose-headers")).toContain("x-ratelimit-remaining-requests");
    const err = await fetch(`${on.url}/v1/nope`, { headers: { origin } });
    expect([err.status, err.headers.get("access-control-allow-origin")]).toEqual([404, origin]);
    const p = await preflight(on.url, origin);
    expect(p.status).toBe(204);
    expect(p.headers.get("access-control-allow-methods")).toContain("POST");
    expect(p.headers.get("access-control-allow-headers")).toBe("authorization, content-type, x-stainless-os");
  });

  it("with --cors-origin: any other origin gets no CORS headers and no preflight answer", async () => {
    const r = await fetch(`${on.url}/v1/models`, { headers: { origin: "https://evil.example.com" } });
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight(on.url, "https://evil.example.com")).status).toBeGreaterThanOrEqual(400);
  });
});

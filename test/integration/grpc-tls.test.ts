// gRPC over TLS (--grpc-tls-cert/--grpc-tls-key) with a self-signed certificate made by `openssl` at test time: a
// client trusting it streams as usual, a plaintext client is refused, and unusable PEM files stop start-up by name.
// Skipped, with the reason, where no openssl binary is installed.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ChannelCredentials, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { ConfigError } from "../../src/config.js";
import { loadGrpcTls } from "../../src/transport/grpc/grpc-server.js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";
import { generationClient } from "../support/grpc-client.js";

type Msg = Record<string, unknown>;
interface GenerationClient extends Client {
  Generate: (req: Msg) => ClientReadableStream<Msg>;
  ListModels: (req: Msg, meta: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Msg) => void) => void;
}

const HAS_OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "loom-tls-"));
const certPath = join(dir, "cert.pem");
const keyPath = join(dir, "key.pem");
let h: Harness;

/** A P-256 key and a one-day self-signed certificate for localhost and 127.0.0.1. */
function makeCert(cert: string, key: string): void {
  const args = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ];
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
}

function client(creds: ChannelCredentials): GenerationClient {
  return generationClient<GenerationClient>(h.server.grpcPort as number, creds);
}

function listModels(c: GenerationClient): Promise<{ res?: Msg; err: ServiceError | null }> {
  return new Promise((resolve) => c.ListModels({}, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => resolve({ err, ...(res ? { res } : {}) })));
}

beforeAll(async () => {
  if (!HAS_OPENSSL) return;
  makeCert(certPath, keyPath);
  h = await startHarness(["--grpc-tls-cert", certPath, "--grpc-tls-key", keyPath]);
});

afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

// The certificate is made at test time with the system openssl (Debian and CI have it); no openssl, no certificate.
describe.skipIf(!HAS_OPENSSL)("gRPC over TLS (skipped when no openssl binary can make the test certificate)", () => {
  it("serves a client that trusts the certificate", async () => {
    const c = client(credentials.createSsl(readFileSync(certPath)));
    const { res, err } = await listModels(c);
    expect(err).toBeNull();
    expect((res?.["models"] as Msg[]).map((m) => m["id"])).toEqual([TEST_MODEL]);
    const finished = await new Promise<Msg>((resolve, reject) => {
      const call = c.Generate({ model: TEST_MODEL, text: "Once upon a time", stopping: { max_tokens: 4 } });
      call.on("data", (m: Msg) => m["finished"] && resolve(m["finished"] as Msg));
      call.on("error", reject);
    });
    expect((finished["usage"] as Msg)["completion_tokens"]).toBe(4);
    c.close();
  });

  it("refuses a plaintext client", async () => {
    const c = client(credentials.createInsecure());
    const { err } = await listModels(c);
    expect(err?.code).toBe(status.UNAVAILABLE);
    c.close();
  });

  it("stops start-up with a ConfigError naming the flag for a missing file or a key that does not match", () => {
    expect(() => loadGrpcTls(join(dir, "missing.pem"), keyPath)).toThrow(ConfigError);
    expect(() => loadGrpcTls(join(dir, "missing.pem"), keyPath)).toThrow(/--grpc-tls-cert: cannot read/);
    const otherCert = join(dir, "other-cert.pem");
    const otherKey = join(dir, "other-key.pem");
    makeCert(otherCert, otherKey);
    expect(() => loadGrpcTls(certPath, otherKey)).toThrow(/--grpc-tls-cert\/--grpc-tls-key: not a usable PEM certificate and matching key/);
    writeFileSync(join(dir, "junk.pem"), "not a certificate");
    expect(() => loadGrpcTls(join(dir, "junk.pem"), keyPath)).toThrow(ConfigError);
  });
});

// gRPC transport: @grpc/grpc-js server with the loom.v1.Generation service, grpc.health.v1 (overall and per model;
// NOT_SERVING while draining or while its engines restart) and server reflection. Message size limits and keepalive are set explicitly; API keys
// come as `authorization: Bearer <key>` metadata; TLS when given a certificate and key. Knows the Engine facade only.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, loadPackageDefinition, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Engine } from "../../engine/engine.js";
import { loadTlsFiles, type TlsFiles } from "../tls-files.js";
import type { ErrorCode } from "../../errors.js";
import { bearerToken, type Caller, type Gatekeeper } from "../../admission/gatekeeper.js";
import { generationHandlers } from "./generation-service.js";

export interface GrpcServerOptions {
  readonly engine: Engine;
  readonly host: string;
  readonly port: number;
  readonly gate: Gatekeeper;
  readonly requestTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** From loadGrpcTls; null = plaintext. */
  readonly tls: GrpcTls | null;
  readonly accepting: () => boolean;
  readonly onError: (code: ErrorCode) => void;
}

export type GrpcTls = TlsFiles;

export interface RunningGrpcServer {
  readonly port: number;
  /** Mark every service NOT_SERVING (drain), then stop once in-flight calls end or the grace period passes. */
  close(graceMs: number): Promise<void>;
  setServing(serving: boolean): void;
}

export const PROTO_FILE = "loom/v1/generation.proto";

export function loadGenerationProto(): PackageDefinition {
  return loadSync(join(protoRoot(), PROTO_FILE), { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, arrays: true, objects: true });
}

/** proto/ at the repository root, found from both src/ (tests) and dist/src/ (built). */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "proto", PROTO_FILE))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find proto/${PROTO_FILE}`);
    dir = up;
  }
  return join(dir, "proto");
}

/** Read and check the PEM files before anything starts, so a bad path or a mismatched pair stops start-up by name. */
export function loadGrpcTls(certPath: string, keyPath: string): GrpcTls {
  return loadTlsFiles(certPath, keyPath, "--grpc-tls-cert", "--grpc-tls-key");
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const definition = loadGenerationProto();
  const pkg = loadPackageDefinition(definition) as unknown as { loom: { v1: { Generation: { service: ServiceDefinition } } } };
  const server = new Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    "grpc.max_send_message_length": opts.maxMessageBytes,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  });
  server.addService(
    pkg.loom.v1.Generation.service,
    generationHandlers({
      engine: opts.engine,
      requestTimeoutMs: opts.requestTimeoutMs,
      accepting: opts.accepting,
      authorize: (call) => authorize(call, opts.gate),
      gate: opts.gate,
      onError: opts.onError,
    }) as never,
  );
  let serving = true;
  const health = new HealthImplementation(healthStatuses(opts.engine, serving));
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);
  const credentials =
    opts.tls === null
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], false);
  const port = await bind(server, `${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}`, credentials);
  const refresh = (): void => {
    for (const [service, status] of Object.entries(healthStatuses(opts.engine, serving))) health.setStatus(service, status);
  };
  const unwatch = opts.engine.onReadinessChange(refresh);
  const setServing = (on: boolean): void => {
    serving = on;
    refresh();
  };
  const close = (graceMs: number): Promise<void> => {
    unwatch();
    return shutdown(server, graceMs, setServing);
  };
  return { port, setServing, close };
}

/**
 * "" is the whole server (every model has a serving engine); each model is a service name too, so a balancer can
 * check one model: NOT_SERVING while its engines restart. All NOT_SERVING while draining.
 */
function healthStatuses(engine: Engine, serving: boolean): Record<string, "SERVING" | "NOT_SERVING"> {
  const of = (up: boolean): "SERVING" | "NOT_SERVING" => (serving && up ? "SERVING" : "NOT_SERVING");
  const all = of(engine.ready);
  const out: Record<string, "SERVING" | "NOT_SERVING"> = { "": all, "loom.v1.Generation": all };
  for (const m of engine.listModels()) out[m.id] = of(engine.modelReady(m.id));
  return out;
}

function authorize(call: { metadata: { get(key: string): unknown[] } }, gate: Gatekeeper): Caller {
  return gate.authenticate(bearerToken(call.metadata.get("authorization")[0]), "`authorization: Bearer <key>` metadata");
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

async function shutdown(server: Server, graceMs: number, setServing: (serving: boolean) => void): Promise<void> {
  setServing(false);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

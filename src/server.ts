// Composition root: builds the engine (supervised engine processes or threads per model) and the transports from one frozen ServerConfig,
// starts them in dependency order, and closes them in reverse on shutdown: stop accepting → drain in-flight
// requests (bounded) → stop workers cooperatively → close sockets.

import { loadTlsFiles } from "./transport/tls-files.js";
import { flagKeys, Gatekeeper, loadKeyFile, type ApiKeyEntry } from "./admission/gatekeeper.js";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { ConfigError, perSlotContext, type ServerConfig } from "./config.js";
import { LoomError, type ErrorCode } from "./errors.js";
import { Engine, type EngineObserver } from "./engine/engine.js";
import { PrometheusExporter, type GaugeSnapshot } from "./metrics/prometheus-exporter.js";
import { RequestLog } from "./support/request-log.js";
import { RequestTracer } from "./tracing/request-tracer.js";
import { createHttpServer } from "./transport/http/http-server.js";
import { loadGrpcTls, startGrpcServer, type GrpcTls, type RunningGrpcServer } from "./transport/grpc/grpc-server.js";
import { attachWsServer } from "./transport/ws/ws-server.js";
import { logFn } from "./support/logger.js";
import { EventLoopMonitor } from "./support/event-loop-monitor.js";
import { uvThreadpoolSize } from "./support/threadpool-relaunch.js";

export interface RunningServer {
  readonly engine: Engine;
  readonly http: Server;
  readonly url: string;
  /** Bound gRPC port, or null when gRPC is off. */
  readonly grpcPort: number | null;
  /**
   * Graceful and bounded: refuse new work, let in-flight requests finish for up to drainMs (default --drain-timeout),
   * end what is left with an `unavailable` error, close listeners and sockets within STOP_GRACE_MS more (ports free),
   * then wait up to ENGINE_STOP_LIMIT_MS for the engines to dispose llama.cpp cooperatively.
   */
  close(drainMs?: number): Promise<void>;
}

/** The draft model named for this model, else the unnamed one; null: none. */
function draftFor(cfg: ServerConfig, model: string): string | null {
  return (cfg.draftModels.find((d) => d.model === model) ?? cfg.draftModels.find((d) => d.model === null))?.path ?? null;
}

export async function startServer(cfg: ServerConfig, logger: Logger): Promise<RunningServer> {
  const log = logFn(logger);
  // Before anything starts: a bad certificate path should stop start-up, not leave engines running.
  const grpcTls = cfg.grpcPort === null || cfg.grpcTlsCert === null || cfg.grpcTlsKey === null ? null : loadGrpcTls(cfg.grpcTlsCert, cfg.grpcTlsKey);
  const httpTls =
    cfg.sslCertFile === null || cfg.sslKeyFile === null ? null : loadTlsFiles(cfg.sslCertFile, cfg.sslKeyFile, "--ssl-cert-file", "--ssl-key-file");
  const gate = gatekeeperFor(cfg);
  const loop = new EventLoopMonitor();
  let engineRef: Engine | null = null;
  const exporter = new PrometheusExporter(() => gaugeSnapshot(engineRef, loop), cfg.metricsCompat === "vllm");
  const requestLog = new RequestLog(logger);
  const tracer = cfg.otlpEndpoint === null ? null : new RequestTracer({ endpoint: cfg.otlpEndpoint });
  const engine = await Engine.start({
    models: cfg.models.map((m) => ({ ...m, draftPath: draftFor(cfg, m.name) })),
    enginesPerModel: cfg.engines,
    isolation: cfg.engineIsolation,
    tuning: {
      slots: cfg.parallel,
      slotContextSize: perSlotContext(cfg),
      batchSize: cfg.batchSize,
      ubatchSize: cfg.ubatchSize,
      itlTargetMs: cfg.itlTargetMs,
      prefixCache: cfg.prefixCache,
      kvHostBytes: cfg.kvHostBytes,
      kvHostDir: cfg.kvHostDir,
      kvDiskDir: cfg.kvDiskDir,
      kvDiskBytes: cfg.kvDiskBytes,
      flashAttn: cfg.flashAttn,
      threads: cfg.threads,
      threadsBatch: cfg.threadsBatch,
      samplingThreads: cfg.samplingThreads,
      gpu: cfg.gpu,
      gpuLayers: cfg.gpuLayers,
      nativeBuild: cfg.nativeBuild,
      speculation: { types: cfg.specTypes, nMax: cfg.specDraftNMax, nMin: cfg.specDraftNMin },
    },
    maxQueue: cfg.maxQueue,
    log,
    observer: observe(exporter, requestLog, tracer, gate),
    captureContent: cfg.logContent,
  });
  engineRef = engine;
  let accepting = true;
  let grpc: RunningGrpcServer | null = null;
  const http = createHttpServer({
    engine,
    gate,
    tls: httpTls,
    corsOrigins: cfg.corsOrigins,
    bodyLimitBytes: cfg.bodyLimitBytes,
    requestTimeoutMs: cfg.requestTimeoutMs,
    connections: {
      headersTimeoutMs: cfg.headersTimeoutMs,
      requestReadTimeoutMs: cfg.requestReadTimeoutMs,
      keepAliveTimeoutMs: cfg.keepAliveTimeoutMs,
      maxConnections: cfg.maxConnections,
    },
    accepting: () => accepting,
    mainThread: () => ({
      pid: process.pid,
      eventLoopDelayMs: loop.snapshot(),
      uvThreadpoolSize: uvThreadpoolSize(),
      memory: process.memoryUsage(),
      activeResources: activeResources(),
    }),
    metrics: exporter,
    grpcPort: () => grpc?.port ?? null,
    onError: (code) => exporter.error(code),
    log,
  });
  const ws = attachWsServer(http, {
    engine,
    gate,
    requestTimeoutMs: cfg.requestTimeoutMs,
    maxPayloadBytes: cfg.bodyLimitBytes,
    accepting: () => accepting,
    onError: (code) => exporter.error(code),
  });
  try {
    await listen(http, cfg.host, cfg.port);
    grpc =
      cfg.grpcPort === null
        ? null
        : await startGrpc(
            cfg,
            engine,
            grpcTls,
            gate,
            () => accepting,
            (code) => exporter.error(code),
          );
  } catch (err) {
    // A listener that cannot bind ends start-up: nothing may keep serving half a server.
    http.close();
    await Promise.all([engine.close(), grpc?.close(0)]);
    loop.stop();
    throw err;
  }
  const addr = http.address() as AddressInfo;
  const url = `${httpTls === null ? "http" : "https"}://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
  let closing: Promise<void> | null = null;
  const close = (drainMs = cfg.drainTimeoutMs): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      grpc?.setServing(false);
      await engine.drain(drainMs);
      // Whatever still runs was cut by the drain limit: each stream ends with an error in its transport's form.
      engine.cutInFlight(new LoomError("unavailable", `The server shut down before this request finished (drain limit ${drainMs / 1000} s).`).toData());
      await new Promise((resolve) => setImmediate(resolve)); // let the transports write those errors first
      ws.close();
      http.close(); // stops listening at once; idle keep-alive connections close now, busy ones below
      const engines = engine.close();
      await Promise.race([Promise.all([engines, grpc?.close(STOP_GRACE_MS), tracer?.shutdown()]), sleep(STOP_GRACE_MS)]);
      http.closeAllConnections();
      // Both ports are free now. Engines stop cooperatively (a thread must never be ended inside llama.cpp: the
      // process aborts), which takes longer than the grace on a loaded machine; wait for them, within a bound.
      await Promise.race([engines, sleep(ENGINE_STOP_LIMIT_MS)]);
      loop.stop();
    })();
    return closing;
  };
  return { engine, http, url, grpcPort: grpc?.port ?? null, close };
}

/** After the drain limit, how long gRPC calls and sockets get to end before they are cut and the ports freed. */
const STOP_GRACE_MS = 500;
/** How long close() waits for engines to dispose llama.cpp cooperatively once the ports are free. */
const ENGINE_STOP_LIMIT_MS = 15_000;

/** What keeps the event loop alive, by kind (TCPWrap, Timeout, …): a leak of sockets or timers shows here. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function startGrpc(
  cfg: ServerConfig,
  engine: Engine,
  tls: GrpcTls | null,
  gate: Gatekeeper,
  accepting: () => boolean,
  onError: (code: ErrorCode) => void,
): Promise<RunningGrpcServer> {
  const port = cfg.grpcPort ?? 0;
  return startGrpcServer({
    engine,
    host: cfg.host,
    port,
    gate,
    requestTimeoutMs: cfg.requestTimeoutMs,
    maxMessageBytes: cfg.bodyLimitBytes,
    tls,
    accepting,
    onError,
  }).catch((err: unknown) => {
    throw new ConfigError(`--grpc-port ${port}: cannot listen on ${cfg.host}:${port}: ${err instanceof Error ? err.message : String(err)}`);
  });
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const why = err.code === "EADDRINUSE" ? "the address is already in use" : err.message;
      reject(new ConfigError(`--port ${port}: cannot listen on ${host}:${port}: ${why}`));
    };
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/** What the gauges show at scrape time: the engine's latest per-worker stats, in-flight streams, main-thread lag. */
function gaugeSnapshot(engine: Engine | null, loop: EventLoopMonitor): GaugeSnapshot {
  if (engine === null) return { models: [], activeStreams: new Map(), eventLoopLagP99Ms: loop.snapshot().p99 };
  const models = engine.status().models.map((m) => {
    const stats = m.workers.flatMap((w) => (w.stats === null ? [] : [w.stats]));
    const sum = (f: (s: (typeof stats)[number]) => number): number => stats.reduce((n, s) => n + f(s), 0);
    return {
      model: m.id,
      running: sum((s) => s.running),
      waiting: sum((s) => s.waiting),
      kvUsed: sum((s) => s.kvCellsUsed),
      kvTotal: sum((s) => s.kvCellsTotal),
      slotsBusy: sum((s) => s.slotsBusy),
      slots: sum((s) => s.slots),
      hostTierBytes: sum((s) => s.hostTier.bytes),
      hostTierEntries: sum((s) => s.hostTier.entries),
      enginesReady: m.workers.filter((w) => w.state === "ready").length,
      engineRestarts: m.restarts,
    };
  });
  return { models, activeStreams: engine.inFlightByTransport(), eventLoopLagP99Ms: loop.snapshot().p99 };
}

/** Metrics see everything; each finished request is traced (when on), logged, and charged to its key's tokens. */
function observe(exporter: PrometheusExporter, log: RequestLog, tracer: RequestTracer | null, gate: Gatekeeper): EngineObserver {
  return {
    requestFinished: (s) => {
      exporter.requestFinished(s);
      log.write(s, tracer?.record(s) ?? null);
      if (s.caller !== undefined) gate.charge(s.caller, s.promptTokens + s.completionTokens);
    },
    tokens: (model, n, gap) => exporter.tokens(model, n, gap),
    step: (model, id, stats) => exporter.step(model, id, stats),
  };
}

/** `--api-key` keys (unlimited) and `--api-key-file` keys (named, with limits and cache salts): bad files stop start-up. */
function gatekeeperFor(cfg: ServerConfig): Gatekeeper {
  let fileKeys: ApiKeyEntry[];
  try {
    fileKeys = cfg.apiKeyFile === null ? [] : loadKeyFile(cfg.apiKeyFile);
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  return new Gatekeeper([...flagKeys(cfg.apiKeys), ...fileKeys]);
}

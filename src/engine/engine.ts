// Engine: the main-thread facade transports use. submit(request) → TokenStream; it routes each request to the
// least-loaded ready engine of its model, enforces the bounded queue (429 before any work is done) and arms the
// per-request deadline; each model's ModelSupervisor runs its engines and restarts them. It knows nothing of HTTP,
// WebSocket or gRPC.

import { LoomError, modelNotFound, type ErrorData } from "../errors.js";
import { DEFAULT_CACHE_POLICY, type GenerateRequest } from "../request/generate-request.js";
import type { TokenizeRequest, TokenizeResult } from "../request/parse-tokenize-request.js";
import type { ModelInfo } from "../runtime/model-backend.js";
import type { WorkerClient } from "./worker-client.js";
import { ModelSupervisor, type HostStatus } from "./model-supervisor.js";
import type { EngineIsolation } from "./engine-host.js";
import { startProcessHost } from "./process-host.js";
import { startThreadHost } from "./thread-host.js";
import { PROTOCOL_VERSION, type EngineStats, type EngineTuning, type EngineWorkerData } from "../engine-worker/worker-messages.js";
import type { TokenStream } from "./token-stream.js";
import { PrefixRouter } from "./prefix-router.js";
import { submitRouted, type RoutedPool } from "./routed-submit.js";
import { RouteKeyPool } from "../routing/route-key-pool.js";
import { NO_OBSERVER, type EngineObserver, type RequestMeta, type Transport } from "./request-stats.js";

export type { StreamEvent, TokenStream } from "./token-stream.js";
export type { EngineObserver, FinishedRequestStats, RequestMeta, Transport } from "./request-stats.js";
export type { TokenizeRequest, TokenizeResult } from "../request/parse-tokenize-request.js";

export interface EngineModelSpec {
  readonly name: string;
  readonly path: string;
  /** Draft model for speculative decoding; absent or null: none. */
  readonly draftPath?: string | null;
}

export interface EngineOptions {
  readonly models: readonly EngineModelSpec[];
  readonly enginesPerModel: number;
  /** Where engines run: a process per model (a native crash ends only it) or a thread each in this process. */
  readonly isolation: EngineIsolation;
  readonly tuning: EngineTuning;
  /** Requests allowed to wait per engine worker beyond its slots. */
  readonly maxQueue: number;
  readonly log: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Receives per-request and per-step stats (metrics, request log); the engine does not know who listens. */
  readonly observer?: EngineObserver;
  /** Hand prompt and output text to the observer (for `--log-content`). */
  readonly captureContent?: boolean;
}

export interface SubmitOptions extends RequestMeta {
  /** Absolute epoch ms; the request is cancelled with deadline_exceeded when it passes. */
  readonly deadlineAt: number | null;
  /** The caller's own cache scope (its API key's cache_salt): its KV is never shared with other keys. */
  readonly keySalt?: string | null;
}

export interface ModelCard {
  readonly id: string;
  readonly created: number;
  readonly info: ModelInfo | null;
}

export interface EngineStatus {
  readonly models: readonly {
    readonly id: string;
    readonly workers: readonly WorkerStatus[];
    /** Engine hosts of the model started again after they ended, since start. */
    readonly restarts: number;
  }[];
}

export interface WorkerStatus {
  readonly workerId: number;
  readonly state: string;
  readonly inFlight: number;
  readonly stats: EngineStats | null;
  readonly restarts: number;
  /** The engine's host: its process id, restarts, last exit, recovery time, crash loop. */
  readonly host: HostStatus;
  /** Which llama.cpp binary the worker loaded ("localBuild" = npm run build:native, "prebuilt") and its GPU. */
  readonly backend: { readonly buildType: string; readonly gpu: string | false } | null;
}

export class Engine {
  /** Each model's supervisor; its clients array holds the model's engines (replaced in place on restart). */
  private readonly supervisors = new Map<string, ModelSupervisor>();
  private readonly readinessListeners = new Set<() => void>();
  private readonly knownInfo = new Map<string, ModelInfo>();
  private readonly created = Math.floor(Date.now() / 1000);
  private nextId = 0;
  private closing = false;
  /** Models with several workers: their cache-aware routing. */
  private readonly routed = new Map<string, RoutedPool>();
  /** The routing tokenizer (only when some model has several workers). */
  private readonly keys: RouteKeyPool | null;

  private constructor(private readonly opts: EngineOptions) {
    this.keys = opts.enginesPerModel > 1 ? new RouteKeyPool() : null;
  }

  /** Spawn every engine worker and wait until all have loaded their model. */
  static async start(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    for (const m of opts.models) {
      const supervisor = engine.supervise(m);
      const clients = supervisor.clients;
      engine.supervisors.set(m.name, supervisor);
      if (clients.length > 1) {
        const capacity = opts.tuning.slots + opts.maxQueue;
        engine.routed.set(m.name, { clients, router: new PrefixRouter(clients.length, opts.tuning.slots), modelPath: m.path, capacity });
      }
    }
    // The routing tokenizer takes 1-2 s to build from a vocabulary: built while the engines load, not on a request.
    const warm = [...engine.routed.values()].map((r) => engine.keys?.key(r.modelPath, { kind: "text", text: "" }, []));
    try {
      await Promise.all([...[...engine.supervisors.values()].map((s) => s.ready()), ...warm]);
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  get ready(): boolean {
    if (this.closing) return false;
    return [...this.supervisors.keys()].every((m) => this.modelReady(m));
  }

  /** Whether some engine of this model serves now. */
  modelReady(model: string): boolean {
    return !this.closing && (this.supervisors.get(model)?.clients ?? []).some((w) => w.state === "ready");
  }

  /** Models whose engines failed too often in a row and are no longer restarted. */
  crashLooping(): string[] {
    return [...this.supervisors.entries()].filter(([, s]) => s.crashLooping()).map(([m]) => m);
  }

  /** Call `listener` whenever an engine ends or becomes ready (health checks follow it); returns the unsubscribe. */
  onReadinessChange(listener: () => void): () => void {
    this.readinessListeners.add(listener);
    return () => this.readinessListeners.delete(listener);
  }

  listModels(): ModelCard[] {
    return [...this.supervisors.keys()].map((id) => ({ id, created: this.created, info: this.infoOf(id) }));
  }

  /** Context cells per slot (the longest prompt + output one request can have); 0 before the model has loaded. */
  maxContext(model: string): number {
    return this.infoOf(model)?.slotContextSize ?? 0;
  }

  /** What the model's engines report about it; while they restart, what they reported before (it does not change). */
  private infoOf(model: string): ModelInfo | null {
    const now = this.supervisors.get(model)?.clients.find((w) => w.info !== null)?.info;
    if (now !== undefined && now !== null) this.knownInfo.set(model, now);
    return now ?? this.knownInfo.get(model) ?? null;
  }

  hasModel(name: string): boolean {
    return this.supervisors.has(name);
  }

  submit(req: GenerateRequest, opts: SubmitOptions): TokenStream {
    return this.submitChoices(req, 1, opts)[0] as TokenStream;
  }

  /**
   * `n` completions of one prompt (the API's `n`): n requests on one worker, so the prompt is computed once and its
   * KV copied to the others (the scheduler's prefix sharing), each with its own random stream (seed + i).
   * All or none: a queue without room for all n is a 429 before any is submitted.
   */
  submitChoices(req: GenerateRequest, n: number, opts: SubmitOptions): TokenStream[] {
    const routed = this.routed.get(req.model);
    if (routed !== undefined && this.keys !== null) return this.submitRoutedChoices(routed, this.keys, req, n, opts);
    const client = this.workerFor(req.model);
    if (client.inFlight + n > this.opts.tuning.slots + this.opts.maxQueue) {
      throw new LoomError("queue_full", `The server is at capacity for \`${req.model}\` (${client.inFlight} requests in flight); retry shortly.`);
    }
    const scoped = withKeySalt(req, opts.keySalt ?? null);
    return Array.from({ length: n }, (_, i) => client.submit(`r${++this.nextId}`, choiceRequest(scoped, i), opts.deadlineAt, metaOf(opts)));
  }

  /** Several workers: route to the one holding the longest prefix of the prompt (routed-submit.ts), bounded by load. */
  private submitRoutedChoices(pool: RoutedPool, keys: RouteKeyPool, req: GenerateRequest, n: number, opts: SubmitOptions): TokenStream[] {
    this.workerFor(req.model); // 404, draining or no worker ready: refused now, as a direct submit is
    const room = pool.clients.reduce((sum, c) => sum + (c.state === "ready" ? Math.max(0, pool.capacity - c.inFlight) : 0), 0);
    if (n > room) throw new LoomError("queue_full", `The server is at capacity for \`${req.model}\`; retry shortly.`);
    const scoped = withKeySalt(req, opts.keySalt ?? null);
    const choices = Array.from({ length: n }, (_, i) => ({ id: `r${++this.nextId}`, request: choiceRequest(scoped, i) }));
    return submitRouted(pool, keys, { choices, deadlineAt: opts.deadlineAt, meta: metaOf(opts) });
  }

  /** Token ids as a generation with this prompt would see them; the model's worker owns the tokenizer. */
  tokenize(req: TokenizeRequest): Promise<TokenizeResult> {
    return this.workerFor(req.model).tokenize(`t${++this.nextId}`, req);
  }

  status(): EngineStatus {
    return {
      models: [...this.supervisors.entries()].map(([id, sup]) => ({
        id,
        restarts: sup.restarts(),
        workers: sup.clients.map((w, i) => workerStatus(w, sup.hostStatus(i))),
      })),
    };
  }

  /** Requests in flight per transport (the active-streams gauge). */
  inFlightByTransport(): Map<Transport, number> {
    const counts = new Map<Transport, number>();
    for (const w of this.allClients()) w.inFlightByTransport(counts);
    return counts;
  }

  /** Stop accepting, stop every worker cooperatively (in-flight requests end with cancelled). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.supervisors.values()].map((s) => s.stop()));
    await this.keys?.close();
  }

  /** End every request still in flight with this error now (the drain limit passed); the workers stop them next. */
  cutInFlight(error: ErrorData): void {
    for (const w of this.allClients()) w.cut(error);
  }

  /** Wait until no request is in flight, or the timeout passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.closing = true;
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.allClients().every((w) => w.inFlight === 0)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  private workerFor(model: string): WorkerClient {
    if (this.closing) throw new LoomError("unavailable", "The server is shutting down.");
    const pool = this.supervisors.get(model)?.clients;
    if (pool === undefined) throw modelNotFound(model);
    const client = pickLeastLoaded(pool);
    if (client === null) throw new LoomError("unavailable", `No engine for \`${model}\` is ready; retry shortly.`);
    return client;
  }

  private allClients(): WorkerClient[] {
    return [...this.supervisors.values()].flatMap((s) => s.clients);
  }

  private supervise(m: EngineModelSpec): ModelSupervisor {
    return new ModelSupervisor({
      model: m.name,
      engines: this.opts.enginesPerModel,
      isolation: this.opts.isolation,
      startHost: this.opts.isolation === "process" ? startProcessHost : (engines) => startThreadHost(engines[0] as EngineWorkerData),
      dataFor: (workerId) => ({
        ...this.opts.tuning,
        version: PROTOCOL_VERSION,
        workerId,
        modelName: m.name,
        modelPath: m.path,
        draftModelPath: m.draftPath ?? null,
      }),
      clientEvents: { observer: this.opts.observer ?? NO_OBSERVER, captureContent: this.opts.captureContent ?? false },
      log: this.opts.log,
      onReplaced: (index) => this.routed.get(m.name)?.router.forgetWorker(index),
      onChange: () => {
        for (const listener of this.readinessListeners) listener();
      },
    });
  }
}

function workerStatus(w: WorkerClient, host: HostStatus): WorkerStatus {
  return {
    workerId: w.data.workerId,
    state: w.state,
    inFlight: w.inFlight,
    stats: w.stats,
    host,
    restarts: host.restarts, // also at the top level, where /v1/status had it before engines had hosts
    backend: w.info === null ? null : { buildType: w.info.buildType, gpu: w.info.gpu },
  };
}

function metaOf(opts: SubmitOptions): RequestMeta {
  return {
    requestId: opts.requestId,
    transport: opts.transport,
    operation: opts.operation,
    ...(opts.traceparent === undefined ? {} : { traceparent: opts.traceparent }),
    ...(opts.caller === undefined ? {} : { caller: opts.caller }),
  };
}

/** The key's salt goes before the request's own: two keys never share KV, whatever salts their requests carry. */
function withKeySalt(req: GenerateRequest, keySalt: string | null): GenerateRequest {
  if (keySalt === null) return req;
  const cache = req.cache ?? DEFAULT_CACHE_POLICY;
  return { ...req, cache: { ...cache, salt: `key:${keySalt}\u0000${cache.salt ?? ""}` } };
}

/** Choice i of an n-choice request: its own seed, so the n samples differ (greedy ones are identical, as OpenAI's). */
function choiceRequest(req: GenerateRequest, i: number): GenerateRequest {
  if (i === 0) return req;
  const seed = req.sampling.seed + i <= Number.MAX_SAFE_INTEGER ? req.sampling.seed + i : req.sampling.seed - i;
  return { ...req, sampling: { ...req.sampling, seed } };
}

function pickLeastLoaded(pool: readonly WorkerClient[]): WorkerClient | null {
  let best: WorkerClient | null = null;
  for (const w of pool) {
    if (w.state !== "ready") continue;
    if (best === null || w.inFlight < best.inFlight) best = w;
  }
  return best;
}

// The one frozen ServerConfig: CLI flags (node:util parseArgs) with LOOM_* environment fallbacks; flags win.
// FLAG_SPECS is the single table behind parsing, --help and the README flag table, so a flag cannot be parsed
// without being documented. Flag names and meanings follow llama-server where they overlap.

import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import {
  apiKeys,
  bool,
  ConfigError,
  corsOrigins,
  fail,
  gpuLayers,
  grpcPort,
  host,
  int,
  models,
  nonEmpty,
  oneOf,
  pemPair,
  seconds,
  url,
  type Lookup,
  type ModelSpec,
  type Raw,
} from "./config-values.js";
import { DEFAULT_SPEC_N_MAX, speculation, type DraftModelSpec, type SpecType } from "./config-speculation.js";

export { ConfigError, type ModelSpec } from "./config-values.js";
export type { DraftModelSpec, SpecType } from "./config-speculation.js";

export type GpuMode = "auto" | "cuda" | "vulkan" | "cpu";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export type NativeBuildMode = "auto" | "never";
export type FlashAttnMode = "auto" | "on" | "off";

export interface ServerConfig {
  readonly models: readonly ModelSpec[];
  readonly host: string;
  readonly port: number;
  /** gRPC port on the same host; null = no gRPC server. */
  readonly grpcPort: number | null;
  /** PEM certificate chain and private key paths for TLS on the gRPC port; both or neither (null = plaintext). */
  readonly grpcTlsCert: string | null;
  readonly grpcTlsKey: string | null;
  /** PEM certificate chain and key paths for HTTPS (and wss:) on the HTTP port; both or neither (null = plain HTTP). */
  readonly sslCertFile: string | null;
  readonly sslKeyFile: string | null;
  /** Origins allowed cross-origin requests from browsers ("*" = any); empty: no CORS headers at all. */
  readonly corsOrigins: readonly string[];
  readonly parallel: number;
  /** llama.cpp threads for single-token steps (one stream decoding). */
  readonly threads: number;
  /** llama.cpp threads for steps that evaluate more than one token (batched decodes, prefill chunks). */
  readonly threadsBatch: number;
  /** Total KV cells per engine, split evenly across slots; already resolved (never 0). */
  readonly ctxSize: number;
  /** Most tokens one engine step evaluates (decodes plus prefill): the scheduler's per-step budget. */
  readonly batchSize: number;
  /** Most tokens per llama_decode call (llama.cpp's n_ubatch); a larger step runs as several calls. */
  readonly ubatchSize: number;
  /** While streams decode, a step that also prefills is sized to take at most this many ms; 0 = no target. */
  readonly itlTargetMs: number;
  readonly flashAttn: FlashAttnMode;
  readonly gpu: GpuMode;
  readonly gpuLayers: number | "max";
  readonly apiKeys: readonly string[];
  /** JSON file of named keys with rate limits and cache salts (admission/gatekeeper.ts); null: none. */
  readonly apiKeyFile: string | null;
  readonly engines: number;
  readonly samplingThreads: number;
  /** Where engines run: `process` (one per model; a native crash ends only it) or `thread` (in the server). */
  readonly engineIsolation: "process" | "thread";
  readonly maxQueue: number;
  readonly requestTimeoutMs: number;
  /** How long shutdown lets in-flight requests finish before it cuts them with an error (ms). */
  readonly drainTimeoutMs: number;
  readonly bodyLimitBytes: number;
  /** Slow clients (ms): the header block, then the whole request, must arrive within these; idle keep-alive ends. */
  readonly headersTimeoutMs: number;
  readonly requestReadTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Most open client connections on the HTTP port (WebSockets included); more are closed on accept. */
  readonly maxConnections: number;
  readonly logLevel: LogLevel;
  readonly nativeBuild: NativeBuildMode;
  /** Also export vLLM's metric names. */
  readonly metricsCompat: "none" | "vllm";
  /** Put prompt and output text in the per-request log line. */
  readonly logContent: boolean;
  /** Reuse cached KV for prompt prefixes (off: --no-prefix-cache). */
  readonly prefixCache: boolean;
  /** Bytes of evicted prefixes each engine worker keeps in files (0 = none). */
  readonly kvHostBytes: number;
  /** Base directory of those files; null: /dev/shm, else the OS temp directory. */
  readonly kvHostDir: string | null;
  /** Disk tier base directory (files evicted from the host tier move there); null: none. */
  readonly kvDiskDir: string | null;
  /** Bytes of the disk tier per engine worker. */
  readonly kvDiskBytes: number;
  /** OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces); null = tracing off. */
  readonly otlpEndpoint: string | null;
  /** Draft models for speculative decoding: model name → draft GGUF path (an unnamed --spec-draft-model: every model). */
  readonly draftModels: readonly DraftModelSpec[];
  /** Speculative proposers, in the order tried (empty: none). */
  readonly specTypes: readonly SpecType[];
  /** Most and fewest draft tokens a sequence verifies per step. */
  readonly specDraftNMax: number;
  readonly specDraftNMin: number;
}

export interface FlagDoc {
  readonly field: keyof ServerConfig;
  readonly flag: string;
  readonly alias?: string;
  readonly env: string;
  readonly default: string;
  readonly doc: string;
}

const GPU_MODES: readonly GpuMode[] = ["auto", "cuda", "vulkan", "cpu"];
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const NATIVE_BUILD_MODES: readonly NativeBuildMode[] = ["auto", "never"];
const FLASH_ATTN_MODES: readonly FlashAttnMode[] = ["auto", "on", "off"];
const DEFAULT_SLOT_CONTEXT = 4096;
/** llama-server's -b and -ub: a burst of 16 × 128-token prompts is one step, run as four 512-token decodes. */
const DEFAULT_BATCH = 2048;
const DEFAULT_UBATCH = 512;
/** See README "Scheduling": the default that won the anchor grid and the mixed workload on 2 CPU cores. */
const DEFAULT_ITL_TARGET_MS = 250;
/** 1 GiB of evicted prefixes per engine: ~29 prefixes of 1,000 tokens of the bench model (36 KB of KV per token). */
const DEFAULT_KV_HOST_BYTES = 1024 ** 3;
const DEFAULT_KV_DISK_BYTES = 8 * 1024 ** 3;

/**
 * llama.cpp threads for single-token steps. Measured on 2 vCPUs, bench model, one stream: the prebuilt binary ran
 * 126 tok/s with 1 thread and 50 with 2 (its workers sleep between ops); the native/ build (OpenMP) ran 131 with 2
 * threads alone, but inside Loom, where the main thread and clients share the cores, 109 with 1 and 92 with 2.
 */
export function defaultThreads(cpus: number): number {
  return Math.max(1, Math.floor(cpus / 2));
}

/** llama.cpp threads for multi-token steps: measured 16 decodes/step at 52 ms with 1 thread, 32 ms with 2. */
export function defaultThreadsBatch(cpus: number): number {
  return Math.max(1, cpus);
}

/** KV cells each slot gets (llama-server semantics: --ctx-size is the engine total). */
export function perSlotContext(cfg: Pick<ServerConfig, "ctxSize" | "parallel">): number {
  return Math.floor(cfg.ctxSize / cfg.parallel);
}

function envName(flag: string): string {
  return `LOOM_${flag.replace(/^--/, "").replace(/-/g, "_").toUpperCase()}`;
}

function doc(field: keyof ServerConfig, flag: string, alias: string | null, dflt: string, text: string): FlagDoc {
  const base = { field, flag, env: envName(flag), default: dflt, doc: text };
  return Object.freeze(alias === null ? base : { ...base, alias });
}

// A table, one flag a line: kept as written.
// prettier-ignore
export const FLAG_DOCS: readonly FlagDoc[] = Object.freeze([
  doc("models", "--model", "-m", "(synthetic test model)", "GGUF model to serve, `name=path` or `path` (name = file name without .gguf); repeatable, env is comma-separated."),
  doc("host", "--host", null, "127.0.0.1", "Address to listen on."),
  doc("port", "--port", null, "8080", "Port to listen on; 0 picks a free port."),
  doc("grpcPort", "--grpc-port", null, "50051", "gRPC port (loom.v1.Generation, health, reflection) on --host; 0 picks a free port, `off` disables."),
  doc("grpcTlsCert", "--grpc-tls-cert", null, "(none: plaintext)", "PEM certificate (chain) file: serve gRPC over TLS; needs --grpc-tls-key."),
  doc("grpcTlsKey", "--grpc-tls-key", null, "(none: plaintext)", "PEM private key file of --grpc-tls-cert."),
  doc("sslCertFile", "--ssl-cert-file", null, "(none: plain HTTP)", "PEM certificate (chain) file: serve HTTPS (and wss: for the Realtime API) on --port; needs --ssl-key-file (llama-server's names)."),
  doc("sslKeyFile", "--ssl-key-file", null, "(none: plain HTTP)", "PEM private key file of --ssl-cert-file."),
  doc("corsOrigins", "--cors-origin", null, "(none: CORS off)", "Origin allowed to call the API from a browser (`https://app.example.com`, or `*` for any); repeatable, env is comma-separated. Off: no CORS headers, preflights refused."),
  doc("parallel", "--parallel", "-np", "16", "Slots (concurrent sequences) per engine."),
  doc("threads", "--threads", "-t", "CPUs ÷ 2", "llama.cpp threads for steps of a single token (one stream decoding)."),
  doc("threadsBatch", "--threads-batch", "-tb", "CPUs", "llama.cpp threads for steps of several tokens (batched decodes, prefill)."),
  doc("ctxSize", "--ctx-size", "-c", "0 (= 4096 × parallel)", "Total KV cells per engine, split evenly across slots."),
  doc("batchSize", "--batch-size", "-b", String(DEFAULT_BATCH), "Most tokens one engine step evaluates (every running stream's next token plus prompt chunks); must be ≥ --parallel."),
  doc("ubatchSize", "--ubatch-size", "-ub", String(DEFAULT_UBATCH), "Most tokens per llama_decode call (llama.cpp's n_ubatch: sizes its compute buffer); a larger step runs as several calls."),
  doc("itlTargetMs", "--itl-target", null, String(DEFAULT_ITL_TARGET_MS), "Latency target in ms: while streams decode, a step that also prefills new prompts is sized (from measured step times) to take at most this long, so running streams see at most about this gap per token; lower = smoother streams, higher = faster prompts; 0 = no target (fill --batch-size)."),
  doc("prefixCache", "--no-prefix-cache", null, "false", "Compute every prompt in full: no KV reuse from earlier requests (per request: `cache_prompt: false`)."),
  doc("kvHostBytes", "--kv-host-bytes", null, "1073741824", "Host tier: bytes per engine of prefixes evicted from slots, kept as KV files and restored instead of recomputed (at most half the directory's free space); 0 = off."),
  doc("kvHostDir", "--kv-host-dir", null, "/dev/shm (else the OS temp dir)", "Directory for the host tier's files (RAM-backed tmpfs recommended); each engine uses a private subdirectory, removed at exit."),
  doc("kvDiskDir", "--kv-disk-dir", null, "(none: no disk tier)", "Disk tier: files evicted from the host tier move to a private subdirectory here instead of being deleted, and are restored from it."),
  doc("kvDiskBytes", "--kv-disk-bytes", null, "8589934592", "Bytes of the disk tier per engine (at most half the directory's free space)."),
  doc("draftModels", "--spec-draft-model", "-md", "(none)", "Draft GGUF for speculative decoding, `path` (every model) or `model=path`; repeatable. Its vocabulary must be the target's, id for id (checked at start-up). Alias --model-draft."),
  doc("specTypes", "--spec-type", null, "draft if a draft model is given, else none", "Speculative decoding: `draft`, `ngram` (prompt lookup, no second model), a comma list (tried in order), or `none`. Verified in the target's own step: greedy output is unchanged, sampled output keeps the target's distribution."),
  doc("specDraftNMax", "--spec-draft-n-max", null, String(DEFAULT_SPEC_N_MAX), "Most draft tokens a sequence verifies per step; fewer are drafted when its acceptance or the measured step costs say they would not pay (none at all where verifying costs as much as decoding)."),
  doc("specDraftNMin", "--spec-draft-n-min", null, "1", "Fewest draft tokens worth a verification; a proposal shorter than this is not verified."),
  doc("flashAttn", "--flash-attn", "-fa", "auto", "llama.cpp flash attention: auto (llama.cpp decides per backend), on or off."),
  doc("gpu", "--gpu", null, "auto", "Backend: auto, cuda, vulkan or cpu."),
  doc("gpuLayers", "--n-gpu-layers", "-ngl", "max", "Layers offloaded to the GPU: a count or `max` (all)."),
  doc("apiKeys", "--api-key", null, "(none: no auth)", "Accepted bearer token; repeatable, env is comma-separated."),
  doc("apiKeyFile", "--api-key-file", null, "(none)", "JSON file of named API keys with limits: {\"keys\": [{\"key\", \"name\", \"rpm\", \"tpm\", \"cache_salt\"}]}; over a limit → 429 with Retry-After and x-ratelimit-* headers."),
  doc("engines", "--engines", null, "1", "Engines per model (each its own context and slots; in one engine process they share the weights)."),
  doc("samplingThreads", "--sampling-threads", null, "1", "OS threads per engine that run llama.cpp work (libuv's pool): 1 keeps every decode on one thread (fastest for plain decoding); 2 samples two sequences at once, which pays where sampling is the work: grammar-constrained outputs on large vocabularies (README, structured outputs)."),
  doc("engineIsolation", "--engine-isolation", null, "process", "`process`: each model's engines run in a supervised child process, so a native crash (SIGSEGV, SIGILL, abort, OOM kill) fails only its requests and the engine restarts; `thread`: worker threads of the server process (a native crash ends the server)."),
  doc("maxQueue", "--max-queue", null, "256", "Requests per model allowed to wait beyond the running ones before 429."),
  doc("requestTimeoutMs", "--timeout", null, "600", "Per-request deadline in seconds."),
  doc("drainTimeoutMs", "--drain-timeout", null, "10", "On SIGTERM/SIGINT, seconds in-flight requests may take to finish; then each is ended with an `unavailable` error in its transport's form and the process exits."),
  doc("bodyLimitBytes", "--body-limit", null, "4194304", "Largest request body in bytes."),
  doc("headersTimeoutMs", "--headers-timeout", null, "30", "Seconds a client has to send a request's headers (slowloris); then 408 and the connection closes."),
  doc("requestReadTimeoutMs", "--request-read-timeout", null, "60", "Seconds a client has to send a whole request, headers and body; then 408 and the connection closes. A response may stream for longer."),
  doc("keepAliveTimeoutMs", "--keep-alive-timeout", null, "65", "Seconds an idle keep-alive connection stays open (above the 60 s idle timeout of common load balancers, so they close first)."),
  doc("maxConnections", "--max-connections", null, "8192", "Most open connections on the HTTP port (WebSockets included); further ones are closed as they arrive."),
  doc("logLevel", "--log-level", null, "info", "fatal, error, warn, info, debug, trace or silent."),
  doc("metricsCompat", "--metrics-compat", null, "none", "`vllm` also exports vLLM's metric names (vllm:num_requests_waiting, vllm:kv_cache_usage_perc, …) for gateways and autoscalers."),
  doc("logContent", "--log-content", null, "false", "Include prompt and output text in the per-request log line (off: they may hold personal data)."),
  doc("otlpEndpoint", "--otlp-endpoint", null, "(none: tracing off)", "OpenTelemetry OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces: one span per request with queue/prefill/decode children."),
  doc("nativeBuild", "--native-build", null, "never", "`never`: node-llama-cpp's prebuilt binary (measured as fast here: native/README.md); `auto`: a local `npm run build:native` build when present and smoke-tested on this CPU."),
]);

type ListLookup = (flag: string) => readonly Raw[];

/** Rewrite aliases to long flags first: parseArgs only knows one-letter short options, and llama-server has -np/-ngl. */
function expandAliases(argv: readonly string[]): string[] {
  const aliases = new Map(FLAG_DOCS.flatMap((d) => (d.alias === undefined ? [] : [[d.alias, d.flag] as const])));
  const expanded = argv.map((arg) => {
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const long = arg.startsWith("--") ? LONG_ALIASES[name] : aliases.get(name);
    return long === undefined ? arg : long + arg.slice(name.length);
  });
  // A switch given bare (`--log-content`) means true.
  return expanded.flatMap((arg, i) => {
    const next = expanded[i + 1];
    return SWITCHES.has(arg) && (next === undefined || next.startsWith("-")) ? [arg, "true"] : [arg];
  });
}

/** llama-server's older long names for flags Loom has under their current names. */
const LONG_ALIASES: Readonly<Record<string, string>> = { "--model-draft": "--spec-draft-model" };

/** Flags that may be given without a value. */
const SWITCHES = new Set(["--log-content", "--no-prefix-cache"]);

/** Every flag is collected as a list: repeatable ones keep all values, the others take the last (as llama-server). */
function readFlags(argv: readonly string[]): Map<string, string[]> {
  const options = Object.fromEntries(FLAG_DOCS.map((d) => [d.flag.slice(2), { type: "string" as const, multiple: true }]));
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: expandAliases(argv), options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  const out = new Map<string, string[]>();
  for (const [name, v] of Object.entries(values)) {
    if (Array.isArray(v)) out.set(`--${name}`, v.map(String));
  }
  return out;
}

function makeLookups(argv: readonly string[], env: NodeJS.ProcessEnv): { one: Lookup; list: ListLookup } {
  const flags = readFlags(argv);
  const envValue = (flag: string): Raw | null => {
    const name = envName(flag);
    const value = env[name]?.trim();
    // An empty variable counts as unset, so `LOOM_PORT= loom serve` behaves like no LOOM_PORT.
    return value === undefined || value === "" ? null : { value, source: `${name} (${flag})` };
  };
  const one: Lookup = (flag) => {
    const given = flags.get(flag);
    const last = given?.[given.length - 1];
    return last !== undefined ? { value: last.trim(), source: flag } : envValue(flag);
  };
  const list: ListLookup = (flag) => {
    const given = flags.get(flag);
    if (given !== undefined) return given.map((value) => ({ value: value.trim(), source: flag }));
    const fromEnv = envValue(flag);
    if (fromEnv === null) return [];
    return fromEnv.value
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "")
      .map((value) => ({ value, source: fromEnv.source }));
  };
  return { one, list };
}

function httpTls(one: Lookup): Pick<ServerConfig, "sslCertFile" | "sslKeyFile"> {
  const pair = pemPair(one, "--ssl-cert-file", "--ssl-key-file");
  return { sslCertFile: pair?.cert ?? null, sslKeyFile: pair?.key ?? null };
}

function grpcTls(one: Lookup): Pick<ServerConfig, "grpcTlsCert" | "grpcTlsKey"> {
  const cert = one("--grpc-tls-cert");
  const key = one("--grpc-tls-key");
  if (cert === null && key === null) return { grpcTlsCert: null, grpcTlsKey: null };
  if (cert === null || key === null) {
    const given = (cert ?? key) as Raw;
    throw new ConfigError(`${given.source}: --grpc-tls-cert and --grpc-tls-key go together; give both PEM files or neither`);
  }
  for (const raw of [cert, key]) if (raw.value === "") fail(raw, "a PEM file path");
  return { grpcTlsCert: cert.value, grpcTlsKey: key.value };
}

/** Slot and batch sizes depend on each other; checked together so the message names both flags. */
function sizes(one: Lookup): Pick<ServerConfig, "parallel" | "ctxSize" | "batchSize" | "ubatchSize" | "itlTargetMs"> {
  const parallel = int(one("--parallel"), 16, 1);
  const ctxRaw = one("--ctx-size");
  const ctx = int(ctxRaw, 0, 0);
  if (ctxRaw !== null && ctx !== 0 && ctx < parallel) {
    fail(ctxRaw, `0 or at least --parallel (${parallel}) so every slot gets a KV cell`);
  }
  const batchRaw = one("--batch-size");
  const batchSize = int(batchRaw, DEFAULT_BATCH, 1);
  if (batchSize < parallel) {
    throw new ConfigError(`--batch-size (${batchSize}) must be ≥ --parallel (${parallel}): every slot decodes a token per step`);
  }
  // As llama.cpp does: a ubatch larger than the batch is the batch.
  const ubatchSize = Math.min(batchSize, int(one("--ubatch-size"), DEFAULT_UBATCH, 1));
  return {
    parallel,
    ctxSize: ctx === 0 ? DEFAULT_SLOT_CONTEXT * parallel : ctx,
    batchSize,
    ubatchSize,
    itlTargetMs: int(one("--itl-target"), DEFAULT_ITL_TARGET_MS, 0),
  };
}

export function parseServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig {
  const { one, list } = makeLookups(argv, env);
  const served = models(list("--model"));
  const config: ServerConfig = {
    models: served,
    host: host(one("--host")),
    port: int(one("--port"), 8080, 0, 65535),
    grpcPort: grpcPort(one("--grpc-port")),
    ...grpcTls(one),
    ...httpTls(one),
    corsOrigins: corsOrigins(list("--cors-origin")),
    ...sizes(one),
    threads: int(one("--threads"), defaultThreads(availableParallelism()), 1),
    threadsBatch: int(one("--threads-batch"), defaultThreadsBatch(availableParallelism()), 1),
    gpu: oneOf(one("--gpu"), "auto", GPU_MODES),
    gpuLayers: gpuLayers(one("--n-gpu-layers")),
    apiKeys: apiKeys(list("--api-key")),
    apiKeyFile: nonEmpty(one("--api-key-file")),
    engines: int(one("--engines"), 1, 1),
    samplingThreads: int(one("--sampling-threads"), 1, 1, 16),
    engineIsolation: oneOf(one("--engine-isolation"), "process", ["process", "thread"] as const),
    maxQueue: int(one("--max-queue"), 256, 0),
    requestTimeoutMs: seconds(one("--timeout"), 600),
    drainTimeoutMs: seconds(one("--drain-timeout"), 10),
    bodyLimitBytes: int(one("--body-limit"), 4 * 1024 * 1024, 1),
    ...connectionLimits(one),
    logLevel: oneOf(one("--log-level"), "info", LOG_LEVELS),
    nativeBuild: oneOf(one("--native-build"), "never", NATIVE_BUILD_MODES),
    flashAttn: oneOf(one("--flash-attn"), "auto", FLASH_ATTN_MODES),
    metricsCompat: oneOf(one("--metrics-compat"), "none", ["none", "vllm"] as const),
    otlpEndpoint: url(one("--otlp-endpoint")),
    logContent: bool(one("--log-content")),
    prefixCache: !bool(one("--no-prefix-cache")),
    kvHostBytes: int(one("--kv-host-bytes"), DEFAULT_KV_HOST_BYTES, 0),
    kvHostDir: nonEmpty(one("--kv-host-dir")),
    kvDiskDir: nonEmpty(one("--kv-disk-dir")),
    kvDiskBytes: int(one("--kv-disk-bytes"), DEFAULT_KV_DISK_BYTES, 1),
    ...speculation(one, list, served),
  };
  return Object.freeze(config);
}

function connectionLimits(one: Lookup): Pick<ServerConfig, "headersTimeoutMs" | "requestReadTimeoutMs" | "keepAliveTimeoutMs" | "maxConnections"> {
  const headersTimeoutMs = seconds(one("--headers-timeout"), 30);
  const requestReadTimeoutMs = seconds(one("--request-read-timeout"), 60);
  if (headersTimeoutMs > requestReadTimeoutMs) {
    throw new ConfigError(
      `--headers-timeout (${headersTimeoutMs / 1000} s) must not exceed --request-read-timeout (${requestReadTimeoutMs / 1000} s): the headers are part of the request.`,
    );
  }
  return {
    headersTimeoutMs,
    requestReadTimeoutMs,
    keepAliveTimeoutMs: seconds(one("--keep-alive-timeout"), 65),
    maxConnections: int(one("--max-connections"), 8192, 1),
  };
}

export function renderHelp(): string {
  const label = (d: FlagDoc): string => `${(d.alias === undefined ? "" : `${d.alias},`).padEnd(5)} ${d.flag} <value>`;
  const width = Math.max(...FLAG_DOCS.map((d) => label(d).length)) + 2;
  const lines = FLAG_DOCS.map((d) => `  ${label(d).padEnd(width)}${d.doc} [default: ${d.default}; env: ${d.env}]`);
  return ["Usage: loom serve [flags]", "", "Flags (each also read from its LOOM_* environment variable; flags win):", ...lines, ""].join("\n");
}

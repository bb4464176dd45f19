// Every metric Loom exports: name, help, type, labels and buckets, in one place (Prometheus conventions: `loom_`
// prefix, base units in the name, `_total` on counters). The exporter registers exactly these; a test checks each is
// registered and documented in the README. `VLLM_COMPAT` adds the vLLM names gateways and KEDA recipes read.

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricDef {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly buckets?: readonly number[];
}

/** Request-level latencies, seconds: 5 ms .. 5 min. */
const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 300];
/** Per-token latency, seconds: 1 ms .. 10 s. */
const TOKEN_LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 10];
/** Token counts: 1 .. 128k. */
const TOKENS = [1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 131072];
/** Tokens in one engine step. */
const STEP_TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];
/** One engine step, seconds. */
const STEP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5, 10];

function h(name: string, help: string, labels: readonly string[], buckets: readonly number[]): MetricDef {
  return { name, help, type: "histogram", labels, buckets };
}

export const METRICS = {
  ttft: h("loom_request_time_to_first_token_seconds", "Time from admission to the first generated token.", ["model"], LATENCY),
  itl: h("loom_request_inter_token_latency_seconds", "Time between consecutive generated tokens of one request.", ["model"], TOKEN_LATENCY),
  e2e: h("loom_request_e2e_latency_seconds", "Time from admission to the end of a request.", ["model"], LATENCY),
  queue: h("loom_request_queue_seconds", "Time a request waited for an engine slot.", ["model"], LATENCY),
  prefill: h("loom_request_prefill_seconds", "Time from getting a slot to the first token (prompt processing).", ["model"], LATENCY),
  decode: h("loom_request_decode_seconds", "Time from the first token to the end of generation.", ["model"], LATENCY),
  promptLength: h("loom_request_prompt_tokens", "Prompt length of finished requests, in tokens.", ["model"], TOKENS),
  generationLength: h("loom_request_generation_tokens", "Generated tokens of finished requests.", ["model"], TOKENS),
  stepTokens: h("loom_engine_step_batch_tokens", "Tokens evaluated in one engine step (decode plus prefill).", ["model"], STEP_TOKENS),
  stepDuration: h("loom_engine_step_duration_seconds", "Duration of one engine step (one llama_decode and sampling).", ["model"], STEP_SECONDS),
  promptTokens: { name: "loom_prompt_tokens_total", help: "Prompt tokens of finished requests.", type: "counter", labels: ["model"] },
  cachedPromptTokens: {
    name: "loom_prompt_cached_tokens_total",
    help: "Prompt tokens served from the KV cache instead of computed.",
    type: "counter",
    labels: ["model"],
  },
  prefixCopies: {
    name: "loom_prefix_cache_copies_total",
    help: "KV copies from one slot into another, so a prompt prefilled only what no slot held.",
    type: "counter",
    labels: ["model"],
  },
  prefixRestores: {
    name: "loom_prefix_cache_restores_total",
    help: "Prefixes restored from the host tier (KV files of prefixes evicted from slots) instead of recomputed.",
    type: "counter",
    labels: ["model"],
  },
  generationTokens: { name: "loom_generation_tokens_total", help: "Generated tokens.", type: "counter", labels: ["model"] },
  specDrafts: {
    name: "loom_spec_decode_drafts_total",
    help: "Speculative verifications run: one per sequence per step that carried draft tokens.",
    type: "counter",
    labels: ["model", "proposer"],
  },
  specDraftTokens: {
    name: "loom_spec_decode_draft_tokens_total",
    help: "Draft tokens verified by the target model.",
    type: "counter",
    labels: ["model", "proposer"],
  },
  specAcceptedTokens: {
    name: "loom_spec_decode_accepted_tokens_total",
    help: "Draft tokens the target model accepted (each one a token generated without its own step).",
    type: "counter",
    labels: ["model", "proposer"],
  },
  specAcceptanceRate: {
    name: "loom_spec_decode_acceptance_ratio",
    help: "Accepted ÷ verified draft tokens since start (0-1).",
    type: "gauge",
    labels: ["model", "proposer"],
  },
  specMeanAcceptedLength: {
    name: "loom_spec_decode_mean_accepted_length",
    help: "Tokens generated per speculative verification since start: 1 + accepted drafts per verification.",
    type: "gauge",
    labels: ["model", "proposer"],
  },
  requests: {
    name: "loom_requests_total",
    help: "Finished requests by model, transport and finish reason (stop, length, cancelled, error).",
    type: "counter",
    labels: ["model", "transport", "finish_reason"],
  },
  aborts: { name: "loom_request_aborts_total", help: "Requests cancelled by the client or their deadline.", type: "counter", labels: ["model", "transport"] },
  errors: {
    name: "loom_errors_total",
    help: "Error responses by error code (including requests refused before the engine).",
    type: "counter",
    labels: ["code"],
  },
  running: { name: "loom_requests_running", help: "Requests holding an engine slot.", type: "gauge", labels: ["model"] },
  waiting: { name: "loom_requests_waiting", help: "Requests admitted and waiting for an engine slot.", type: "gauge", labels: ["model"] },
  kvUsage: {
    name: "loom_kv_cache_usage_ratio",
    help: "Fraction of KV-cache cells holding tokens (0-1), live or kept for prefix reuse.",
    type: "gauge",
    labels: ["model"],
  },
  hostTierBytes: { name: "loom_kv_host_tier_bytes", help: "Bytes of KV files the host tier holds.", type: "gauge", labels: ["model"] },
  hostTierEntries: { name: "loom_kv_host_tier_entries", help: "Prefixes the host tier holds.", type: "gauge", labels: ["model"] },
  enginesReady: {
    name: "loom_engines_ready",
    help: "Engines of the model serving now (fewer than --engines while one restarts).",
    type: "gauge",
    labels: ["model"],
  },
  engineRestarts: {
    name: "loom_engine_restarts_total",
    help: "Engine processes (or threads) started again after they ended: crashes, kills, exits.",
    type: "counter",
    labels: ["model"],
  },
  slotsBusy: { name: "loom_slots_busy", help: "Engine slots running a request.", type: "gauge", labels: ["model"] },
  slotsFree: { name: "loom_slots_free", help: "Engine slots free.", type: "gauge", labels: ["model"] },
  activeStreams: { name: "loom_active_streams", help: "Requests in flight by transport.", type: "gauge", labels: ["transport"] },
  eventLoopLag: { name: "loom_event_loop_lag_seconds", help: "Main-thread event-loop delay, 99th percentile since start.", type: "gauge", labels: [] },
} as const satisfies Record<string, MetricDef>;

/** vLLM's names (`--metrics-compat vllm`), for gateways and autoscaler recipes written against vLLM. */
export const VLLM_COMPAT = {
  running: { name: "vllm:num_requests_running", help: "Number of requests in model execution batches.", type: "gauge", labels: ["model_name"] },
  waiting: { name: "vllm:num_requests_waiting", help: "Number of requests waiting to be processed.", type: "gauge", labels: ["model_name"] },
  kvUsage: { name: "vllm:kv_cache_usage_perc", help: "KV-cache usage. 1 means 100 percent usage.", type: "gauge", labels: ["model_name"] },
  ttft: h("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ["model_name"], LATENCY),
  itl: h("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ["model_name"], TOKEN_LATENCY),
  e2e: h("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", ["model_name"], LATENCY),
  prefixQueries: {
    name: "vllm:prefix_cache_queries",
    help: "Prefix cache queries, in terms of number of queried tokens.",
    type: "counter",
    labels: ["model_name"],
  },
  prefixHits: { name: "vllm:prefix_cache_hits", help: "Prefix cache hits, in terms of number of cached tokens.", type: "counter", labels: ["model_name"] },
  specDrafts: { name: "vllm:spec_decode_num_drafts", help: "Number of spec decoding drafts.", type: "counter", labels: ["model_name"] },
  specDraftTokens: { name: "vllm:spec_decode_num_draft_tokens", help: "Number of draft tokens.", type: "counter", labels: ["model_name"] },
  specAcceptedTokens: { name: "vllm:spec_decode_num_accepted_tokens", help: "Number of accepted tokens.", type: "counter", labels: ["model_name"] },
} as const satisfies Record<string, MetricDef>;

export type LoomMetric = keyof typeof METRICS;
export type VllmMetric = keyof typeof VLLM_COMPAT;

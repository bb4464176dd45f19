// Streaming load generator: N concurrent clients each run requests back to back against /v1/completions with
// exact-length token-id prompts (a random tag at the front so reruns never hit a warm prefix cache, unless a shared
// prefix is asked for), parse SSE, and record TTFT, inter-token gaps and end-to-end time per request.

export interface LoadOptions {
  readonly url: string;
  readonly model: string;
  readonly concurrency: number;
  /** Requests per client. */
  readonly requestsPerClient: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** Leading prompt tokens identical across requests (KV-reuse workloads); 0 = every prompt unique. */
  readonly sharedPrefixTokens?: number;
  /** Delay before each client's first request (staggered arrivals). */
  readonly startDelayMs?: (client: number) => number;
  readonly label?: string;
}

export interface RequestSample {
  readonly client: number;
  readonly startedAt: number;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly gapsMs: readonly number[];
  readonly tokens: number;
  readonly chunkTimes: readonly number[];
}

export interface LoadResult {
  readonly label: string;
  readonly concurrency: number;
  readonly requests: number;
  readonly wallMs: number;
  readonly outputTokens: number;
  readonly outputTokensPerSecond: number;
  readonly ttftMs: Percentiles;
  readonly itlMs: Percentiles;
  readonly e2eMs: Percentiles;
  readonly samples: readonly RequestSample[];
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export const VOCAB_LOW = 300;
export const VOCAB_SPAN = 29_000;

export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] as number, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Exact-length prompt of token ids; a random tag up front makes each unique unless a shared prefix is wanted. */
export function makePrompt(tokens: number, sharedPrefix: number, rng: () => number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < tokens; i++) {
    const shared = i < sharedPrefix;
    ids.push(VOCAB_LOW + Math.floor((shared ? ((i * 7919) % 1000) / 1000 : rng()) * VOCAB_SPAN));
  }
  return ids;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const samples: RequestSample[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, (_, c) => runClient(opts, c, samples)));
  const wallMs = performance.now() - t0;
  return summarize(opts, samples, wallMs);
}

export function summarize(opts: Pick<LoadOptions, "label" | "concurrency">, samples: readonly RequestSample[], wallMs: number): LoadResult {
  const outputTokens = samples.reduce((n, s) => n + s.tokens, 0);
  return {
    label: opts.label ?? "",
    concurrency: opts.concurrency,
    requests: samples.length,
    wallMs,
    outputTokens,
    outputTokensPerSecond: outputTokens / (wallMs / 1000),
    ttftMs: percentiles(samples.map((s) => s.ttftMs)),
    itlMs: percentiles(samples.flatMap((s) => s.gapsMs)),
    e2eMs: percentiles(samples.map((s) => s.e2eMs)),
    samples,
  };
}

async function runClient(opts: LoadOptions, client: number, out: RequestSample[]): Promise<void> {
  const delay = opts.startDelayMs?.(client) ?? 0;
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  let seed = (client + 1) * 2654435761 + Math.floor(Math.random() * 1e9);
  const rng = (): number => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (let i = 0; i < opts.requestsPerClient; i++) {
    out.push(await streamOne(opts, client, makePrompt(opts.promptTokens, opts.sharedPrefixTokens ?? 0, rng)));
  }
}

/** One streamed request. With a signal, an abort ends it early and returns what was received so far. */
export async function streamOne(
  opts: Pick<LoadOptions, "url" | "model" | "maxTokens">,
  client: number,
  prompt: number[],
  signal?: AbortSignal,
): Promise<RequestSample> {
  const startedAt = performance.now();
  const chunkTimes: number[] = [];
  let tokens: number;
  try {
    tokens = await readStream(opts, prompt, chunkTimes, signal);
  } catch (err) {
    if (signal?.aborted !== true) throw err;
    tokens = chunkTimes.length;
  }
  const end = performance.now();
  const first = chunkTimes[0] ?? end;
  const gapsMs = chunkTimes.slice(1).map((t, i) => t - (chunkTimes[i] as number));
  return { client, startedAt, ttftMs: first - startedAt, e2eMs: end - startedAt, gapsMs, tokens, chunkTimes };
}

async function readStream(
  opts: Pick<LoadOptions, "url" | "model" | "maxTokens">,
  prompt: number[],
  chunkTimes: number[],
  signal?: AbortSignal,
): Promise<number> {
  const res = await fetch(`${opts.url}/v1/completions`, {
    ...(signal ? { signal } : {}),
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: opts.model,
      prompt,
      max_tokens: opts.maxTokens,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let tokens = 0;
  const decoder = new TextDecoder();
  let pending = "";
  for await (const bytes of res.body) {
    pending += decoder.decode(bytes as Uint8Array, { stream: true });
    let cut = pending.indexOf("\n\n");
    while (cut >= 0) {
      const frame = pending.slice(0, cut);
      pending = pending.slice(cut + 2);
      if (frame.includes('"usage":{')) tokens = (JSON.parse(frame.slice(6)) as { usage: { completion_tokens: number } }).usage.completion_tokens;
      else if (frame.startsWith("data: {") && !frame.includes('"text":""')) chunkTimes.push(performance.now());
      cut = pending.indexOf("\n\n");
    }
  }
  return tokens;
}

/** Inter-chunk gaps whose later chunk arrived inside [from, to). */
export function gapsWithin(samples: readonly RequestSample[], from: number, to: number): number[] {
  const gaps: number[] = [];
  for (const s of samples) {
    for (let i = 1; i < s.chunkTimes.length; i++) {
      const at = s.chunkTimes[i] as number;
      if (at >= from && at < to) gaps.push(at - (s.chunkTimes[i - 1] as number));
    }
  }
  return gaps;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The HTTP path's own overhead, measured with autocannon: GET /v1/models (routing, auth, JSON; no engine) and a
// one-token completion on the tiny model (the full request path: validate, admit, worker round trip, respond).

import autocannon from "autocannon";
import { ensureDefaultModel } from "../../models/make-synthetic-model.js";
import type { BenchConfig } from "../bench-config.js";
import { startBenchServer } from "../server-process.js";

export interface HttpOverheadRun {
  readonly label: string;
  readonly requestsPerSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

export async function runHttpOverhead(cfg: BenchConfig): Promise<HttpOverheadRun[]> {
  const tiny = await ensureDefaultModel();
  const server = await startBenchServer(["--model", `tiny=${tiny}`, "--threads", "1", "--threads-batch", "1", "--parallel", "16", "--max-queue", "1024"]);
  const duration = cfg.quick ? 3 : 8;
  try {
    const models = await cannon("GET /v1/models", { url: `${server.url}/v1/models`, connections: 32, duration });
    const body = JSON.stringify({ model: "tiny", prompt: [1, 450, 1701, 4955], max_tokens: 1, temperature: 0 });
    const one = await cannon("POST /v1/completions (1 token, tiny)", {
      url: `${server.url}/v1/completions`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      connections: 16,
      duration,
    });
    return [models, one];
  } finally {
    await server.stop();
  }
}

async function cannon(label: string, opts: autocannon.Options): Promise<HttpOverheadRun> {
  const r = await autocannon(opts);
  return {
    label,
    requestsPerSecond: r.requests.average,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    errors: r.errors,
    non2xx: r.non2xx,
  };
}

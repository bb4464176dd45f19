// GET /metrics on a real server after real traffic: every metric of metric-names.ts is exported (vLLM names too
// with --metrics-compat vllm), counters and histograms move with requests, and each name is documented in the
// README. When promtool (Debian's `prometheus` package) is installed, the scrape must lint clean.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRICS, VLLM_COMPAT } from "../../src/metrics/metric-names.js";
import { startHarness, TEST_MODEL, type Harness } from "../support/server-harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness(["--metrics-compat", "vllm"]);
  const messages = [{ role: "user" as const, content: "count to ten" }];
  await Promise.all([1, 2, 3].map(() => h.client.chat.completions.create({ model: TEST_MODEL, messages, max_tokens: 12 })));
  const stream = await h.client.chat.completions.create({ model: TEST_MODEL, messages, max_tokens: 12, stream: true });
  for await (const _c of stream) void _c;
  await fetch(`${h.url}/v1/chat/completions`, { method: "POST", body: "{bad json" });
});

afterAll(async () => {
  await h?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${h.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/text\/plain/);
  return res.text();
}

function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  it("exports every defined metric, with and without the vLLM names", async () => {
    const text = await scrape();
    for (const def of [...Object.values(METRICS), ...Object.values(VLLM_COMPAT)]) {
      expect(text, def.name).toContain(`# TYPE ${def.name} ${def.type}`);
    }
  });

  it("counts requests, tokens, errors and observes latencies", async () => {
    const text = await scrape();
    const m = `model="${TEST_MODEL}"`;
    expect(value(text, `loom_requests_total{${m},transport="http",finish_reason="length"}`)).toBe(4);
    expect(value(text, `loom_generation_tokens_total{${m}}`)).toBe(48);
    expect(value(text, `loom_request_time_to_first_token_seconds_count{${m}}`)).toBe(4);
    expect(value(text, `loom_request_inter_token_latency_seconds_count{${m}}`)).toBeGreaterThanOrEqual(40);
    expect(value(text, `vllm:e2e_request_latency_seconds_count{model_name="${TEST_MODEL}"}`)).toBe(4);
    expect(value(text, `loom_engine_step_duration_seconds_count{${m}}`)).toBeGreaterThan(10);
    expect(value(text, `loom_errors_total{code="invalid_json"}`)).toBe(1);
    expect(value(text, `loom_slots_free{${m}}`)).toBe(16);
    expect(value(text, `vllm:num_requests_running{model_name="${TEST_MODEL}"}`)).toBe(0);
    const kv = value(text, `loom_kv_cache_usage_ratio{${m}}`);
    expect(kv).toBeGreaterThan(0);
    expect(kv).toBeLessThan(1);
  });

  it("documents every metric name in the README", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const def of [...Object.values(METRICS), ...Object.values(VLLM_COMPAT)]) expect(readme, def.name).toContain(`\`${def.name}\``);
  });

  // reason for the skip: promtool comes from Debian's prometheus package, which .ci/run installs best-effort.
  it.skipIf(!hasPromtool())("lints clean with promtool (skipped when Debian's prometheus package is not installed)", async () => {
    // reason: see above
    const text = await scrape();
    let out: string;
    try {
      out = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err);
    }
    // Documented exceptions: prom-client's default nodejs_* gauges named *_total, and vLLM's own `vllm:` names.
    const problems = out.split("\n").filter((l) => l.trim() !== "" && !/^(nodejs_|process_|vllm:)/.test(l));
    expect(problems).toEqual([]);
  });
});

function hasPromtool(): boolean {
  try {
    execFileSync("promtool", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

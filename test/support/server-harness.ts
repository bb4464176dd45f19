// Starts a real Loom server on loopback (port 0) with the synthetic tiny model and real llama.cpp engine workers,
// and an official OpenAI SDK client pointed at it. Tests close it in afterAll.

import OpenAI from "openai";
import { parseServerConfig, type ServerConfig } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { createLogger } from "../../src/support/logger.js";
import { ensureDefaultModel } from "../../models/make-synthetic-model.js";

export const TEST_MODEL = "tiny";

export interface Harness {
  readonly server: RunningServer;
  readonly url: string;
  readonly client: OpenAI;
  readonly cfg: ServerConfig;
  close(): Promise<void>;
}

/** Extra CLI flags override the test defaults (1 thread: tests share 2 cores with vitest itself). */
export async function startHarness(flags: readonly string[] = [], apiKey = "unused"): Promise<Harness> {
  const path = await ensureDefaultModel();
  const cfg = parseServerConfig(
    [
      "--model",
      `${TEST_MODEL}=${path}`,
      "--port",
      "0",
      "--grpc-port",
      "0",
      "--threads",
      "1",
      "--threads-batch",
      "1",
      "--parallel",
      "16",
      "--ctx-size",
      String(16 * 4096),
      ...flags,
    ],
    {},
  );
  const server = await startServer(cfg, createLogger("warn"));
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  return { server, url: server.url, client, cfg, close: () => server.close(2_000) };
}

interface StatusBody {
  models: {
    id: string;
    workers: {
      state: string;
      inFlight: number;
      host: {
        isolation: "process" | "thread";
        pid: number | null;
        restarts: number;
        lastExit: { code: number | null; signal: string | null; at: number } | null;
        lastRecoveryMs: number | null;
        crashLoop: boolean;
      };
      stats: { slotsBusy: number; running: number; waiting: number; kvCellsUsed: number } | null;
    }[];
  }[];
}

export async function engineStatus(url: string, headers: Record<string, string> = {}): Promise<StatusBody> {
  const res = await fetch(`${url}/v1/status`, { headers });
  return (await res.json()) as StatusBody;
}

/** Poll until `check` passes or the timeout expires; returns whether it passed. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

export async function busySlots(url: string): Promise<number> {
  const s = await engineStatus(url);
  return s.models.flatMap((m) => m.workers).reduce((n, w) => n + (w.stats?.slotsBusy ?? 0) + w.inFlight, 0);
}

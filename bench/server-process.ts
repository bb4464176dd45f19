// Starts a Loom server as a child process for a benchmark (its own process, as in production), waits for /ready,
// reads its URL from the structured "loom is serving" log line, and stops it with SIGTERM (graceful drain).

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));

export interface BenchServer {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function startBenchServer(flags: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<BenchServer> {
  const child = spawn(process.execPath, [MAIN, "serve", "--port", "0", "--log-level", "info", ...flags], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
    lines.on("line", (line) => {
      const m = /"url":"([^"]+)".*"msg":"loom is serving"/.exec(line);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`bench server exited early (code ${code})`)));
  });
  return {
    url,
    process: child,
    stop: () => stopChild(child),
  };
}

/** SIGTERM (the server drains), SIGKILL if it has not exited after 10 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    const hard = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Run a few short requests so first-call allocations (compute buffers, JIT) are not measured. */
export async function warmUp(url: string, model: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, prompt: [1, 450, 1701, 4955, 338], max_tokens: 8, temperature: 0 }),
    });
    await res.text();
  }
}

export interface MainThreadLag {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export async function mainThreadLag(url: string): Promise<MainThreadLag> {
  const res = await fetch(`${url}/v1/status`);
  const body = (await res.json()) as { mainThread: { eventLoopDelayMs: MainThreadLag } };
  return body.mainThread.eventLoopDelayMs;
}

// Starts llama.cpp's llama-server as a child process on a free loopback port, waits until GET /health answers 200
// (503 while the model loads), and stops it with SIGTERM. Same shape as bench/server-process.ts's BenchServer, so the
// anchor runner treats both engines alike. Also checks that the flags it passes exist in this build's --help.

import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { stopChild, type BenchServer } from "../server-process.js";

export interface LlamaServerOptions {
  readonly binary: string;
  readonly modelPath: string;
  readonly threads: number;
  readonly threadsBatch: number;
  readonly parallel: number;
  readonly ctxSize: number;
  /** More flags for this run (e.g. speculative decoding's -md and --spec-type). */
  readonly extraArgs?: readonly string[];
}

/** The flags we rely on, as spelled at this llama.cpp version. */
export const REQUIRED_FLAGS = ["-m", "-t", "-tb", "-np", "-c", "--cont-batching", "--host", "--port"] as const;

export function missingFlags(binary: string): string[] {
  const help = spawnSync(binary, ["--help"], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  const text = `${help.stdout}\n${help.stderr}`;
  return REQUIRED_FLAGS.filter((f) => !new RegExp(`(^|[\\s,])${f.replace(/[-]/g, "\\-")}([\\s,=]|$)`, "m").test(text));
}

export function llamaServerArgs(o: LlamaServerOptions, port: number): string[] {
  return [
    "-m",
    o.modelPath,
    "-t",
    String(o.threads),
    "-tb",
    String(o.threadsBatch),
    "-np",
    String(o.parallel),
    "-c",
    String(o.ctxSize),
    "--cont-batching",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    ...(o.extraArgs ?? []),
    // LOOM_ANCHOR_LLAMA_SERVER_ARGS="--no-repack --poll 0": extra flags for experiments, recorded in the command.
    ...(process.env.LOOM_ANCHOR_LLAMA_SERVER_ARGS ?? "").split(/\s+/).filter((a) => a !== ""),
  ];
}

export async function startLlamaServer(o: LlamaServerOptions): Promise<BenchServer> {
  const port = await freePort();
  const child = spawn(o.binary, llamaServerArgs(o, port), { stdio: ["ignore", "ignore", "pipe"] });
  let tail = "";
  child.stderr?.on("data", (b: Buffer) => {
    tail = (tail + b.toString("utf8")).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited early (code ${child.exitCode}):\n${tail}`);
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`llama-server not healthy after 120 s:\n${tail}`);
    }
    const status = await fetch(`${url}/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // A crash mid-run would otherwise show only as "fetch failed" in the client.
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM") process.stderr.write(`llama-server exited (code ${code}, signal ${signal}):\n${tail}\n`);
  });
  return {
    url,
    process: child,
    stop: () => stopChild(child),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

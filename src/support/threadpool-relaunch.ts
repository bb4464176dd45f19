// One libuv pool thread per engine worker. node-llama-cpp runs every llama_decode as an async task on libuv's
// process-wide pool (4 threads by default), so consecutive steps of one engine land on different OS threads, and a
// multi-threaded decode pays for the switch (OpenMP build or not): measured on 2 vCPUs (bench model, 2 threads),
// 25.0 ms per 4-sequence step and 41.5 ms per 16-sequence step with the default pool vs 17.1 ms and 26.0 ms with one
// pool thread, which is what llama.cpp's own llama-batched-bench takes (17.2 / 26.9 ms); bench/profile-step.ts. libuv reads UV_THREADPOOL_SIZE once, before any JavaScript
// runs, so the only way to set it is to start the server process with it: `loom serve` relaunches itself once.
// Setting UV_THREADPOOL_SIZE yourself (any value) skips the relaunch.

import { spawn } from "node:child_process";
import { describeExit, exitStatusOf } from "../exit-status.js";

const MARK = "LOOM_RELAUNCHED";
/** libuv's own pool size when UV_THREADPOOL_SIZE is unset. */
const LIBUV_DEFAULT_POOL = 4;

/** Whether this process should relaunch itself: neither the operator nor an earlier launch set the pool size. */
export function needsRelaunch(env: NodeJS.ProcessEnv): boolean {
  return env.UV_THREADPOOL_SIZE === undefined && env[MARK] === undefined;
}

/**
 * The server's pool size: with engine threads, one per engine, so every engine's decodes stay on one OS thread when
 * idle; engine processes set their own (process-host.ts) and the server keeps libuv's default for its file I/O.
 */
export function poolSizeFor(isolation: "process" | "thread", engineWorkers: number): number {
  if (isolation === "process") return LIBUV_DEFAULT_POOL;
  return Math.max(1, Math.min(1024, engineWorkers));
}

/**
 * Run this same command in a child process with UV_THREADPOOL_SIZE set and wait for it. Signals are forwarded, so
 * a SIGTERM to this process drains the server as usual; the child watches its IPC channel and drains if this
 * process dies. The child gets its own process group: a terminal's Ctrl-C reaches only this process, which forwards
 * it once (a second SIGINT to the server means "stop now"). Resolves with the child's exit code.
 */
export function relaunchWithPool(size: number): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(size), [MARK]: "1" },
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    detached: true,
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, forward);
  return new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      for (const s of signals) process.off(s, forward);
      const status = exitStatusOf(code, signal);
      if (status !== 0) process.stderr.write(`loom: the server process (pid ${child.pid}) ${describeExit(code, signal)}; exiting with ${status}\n`);
      resolve(status);
    });
  });
}

/** In a relaunched child: call `stop` if the parent goes away without signalling (IPC channel closes). */
export function onParentGone(stop: () => void): void {
  if (process.env[MARK] === undefined || typeof process.send !== "function") return;
  process.once("disconnect", stop);
  // The channel must not keep the server alive by itself, nor may it end it while the parent lives.
  process.channel?.unref();
}

/** The pool size libuv took at startup (its default is 4). */
export function uvThreadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(1024, n) : LIBUV_DEFAULT_POOL;
}

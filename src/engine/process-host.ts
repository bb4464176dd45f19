// The engines of one model in a child process (--engine-isolation process): a native crash there ends only that
// process. Messages go over Node's IPC channel with the structured-clone serialization worker threads use, so the
// engine protocol is the same on both hosts; each is tagged with its engine's id.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EngineWorkerData, FromEngineProcess, FromWorker, ToEngineProcess } from "../engine-worker/worker-messages.js";
import { engineEntry, unstartedHost, type EngineExit, type EngineHost, type EngineLink } from "./engine-host.js";

export function startProcessHost(engines: readonly EngineWorkerData[]): EngineHost {
  let child: ChildProcess;
  try {
    child = fork(fileURLToPath(engineEntry("engine-process-entry.js")), [], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [],
      env: { ...process.env, UV_THREADPOOL_SIZE: poolSize(engines) },
    });
  } catch (err) {
    return unstartedHost("process", engines.length, err);
  }
  const handlers = new Map<number, (msg: FromWorker) => void>();
  const errorHandlers: ((err: Error) => void)[] = [];
  child.on("message", (m: FromEngineProcess) => handlers.get(m.workerId)?.(m.msg));
  child.on("error", (err) => {
    for (const h of errorHandlers) h(err);
  });
  const exited = new Promise<EngineExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    // A process that could not be spawned (EAGAIN, EMFILE) emits "error" and never "exit".
    child.once("error", () => child.pid === undefined && resolve({ code: null, signal: null }));
  });
  const send = (msg: ToEngineProcess): void => {
    // A message to a process that has just died is dropped: its exit fails every request it held.
    if (child.connected) child.send(msg, ignoreSendError);
  };
  const links = engines.map((data): EngineLink => ({
    post: (msg) => send({ type: "engine", workerId: data.workerId, msg }),
    onMessage: (handler) => void handlers.set(data.workerId, handler),
    onError: (handler) => void errorHandlers.push(handler),
  }));
  send({ type: "init", engines });
  return {
    isolation: "process",
    pid: child.pid ?? null,
    links,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/**
 * --sampling-threads libuv pool threads per engine (default 1, so each engine's decodes stay on one OS thread:
 * support/threadpool-relaunch.ts); a UV_THREADPOOL_SIZE the operator set (not the launcher's own) is kept.
 */
function poolSize(engines: readonly EngineWorkerData[]): string {
  const own = process.env.LOOM_RELAUNCHED !== undefined || process.env.UV_THREADPOOL_SIZE === undefined;
  return own ? String(Math.max(1, engines.length * (engines[0]?.samplingThreads ?? 1))) : (process.env.UV_THREADPOOL_SIZE as string);
}

/** A send fails only when the channel closes under it; the process's exit then ends every request it held. */
function ignoreSendError(): void {}

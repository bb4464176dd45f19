// An engine in a worker thread of the server process (--engine-isolation thread): the lowest message cost, but a
// native crash in it ends the whole server.

import { Worker } from "node:worker_threads";
import type { EngineWorkerData, FromWorker } from "../engine-worker/worker-messages.js";
import { engineEntry, unstartedHost, type EngineExit, type EngineHost } from "./engine-host.js";

export function startThreadHost(data: EngineWorkerData): EngineHost {
  let worker: Worker;
  try {
    worker = new Worker(engineEntry("worker-entry.js"), { workerData: data, name: `loom-engine-${data.modelName}-${data.workerId}` });
  } catch (err) {
    return unstartedHost("thread", 1, err);
  }
  const exited = new Promise<EngineExit>((resolve) => worker.once("exit", (code) => resolve({ code, signal: null })));
  return {
    isolation: "thread",
    pid: process.pid,
    links: [
      {
        post: (msg) => worker.postMessage(msg),
        onMessage: (handler) => void worker.on("message", (msg: FromWorker) => handler(msg)),
        onError: (handler) => void worker.on("error", handler),
      },
    ],
    exited,
    kill: () => {},
  };
}

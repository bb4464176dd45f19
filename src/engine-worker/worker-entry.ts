// Engine worker thread entry (--engine-isolation thread): one engine unit in a thread of the server process. A
// thread cannot contain a native crash (it shares the process); engine processes can (engine-process-entry.ts).

import { parentPort, workerData } from "node:worker_threads";
import { runEngineUnit } from "./engine-unit.js";
import type { EngineWorkerData, ToWorker } from "./worker-messages.js";

const port = parentPort;
if (port === null) throw new Error("worker-entry must run in a worker thread");

void runEngineUnit(workerData as EngineWorkerData, {
  post: (msg) => port.postMessage(msg),
  onMessage: (handler) => port.on("message", (msg: ToWorker) => handler(msg)),
}).then(() => port.close());

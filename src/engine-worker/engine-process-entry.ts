// Engine process entry (--engine-isolation process, the default): the engines of one model in a process of their
// own, so a native crash (SIGSEGV, SIGILL, abort, a CUDA error, the OOM killer) ends only this process and the
// server, which supervises it (engine/process-host.ts), fails its requests and starts it again. Its engines share
// the model's weights (llama-backend.ts loads a model once per process), each with its own context and loop.

import { runEngineUnit } from "./engine-unit.js";
import type { EngineWorkerData, FromEngineProcess, FromWorker, ToEngineProcess, ToWorker } from "./worker-messages.js";

/** After the server's channel closes (it died), how long the engines get to stop before this process ends anyway. */
const ORPHAN_EXIT_MS = 5_000;

if (typeof process.send !== "function") throw new Error("engine-process-entry must be started with an IPC channel");

const handlers = new Map<number, (msg: ToWorker) => void>();
/** Messages for an engine still loading (it listens once loaded), delivered in order then, as a thread's port queues. */
const early = new Map<number, ToWorker[]>();
let started = false;

function send(msg: FromEngineProcess): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send?.(msg, undefined, undefined, () => resolve());
  });
}

/** Every engine stops cooperatively; one still loading stops as soon as it has loaded. */
function shutdownAll(): void {
  for (const handler of handlers.values()) handler({ type: "shutdown" });
  for (const [workerId, queued] of early) if (!handlers.has(workerId)) queued.push({ type: "shutdown" });
}

async function serve(engines: readonly EngineWorkerData[]): Promise<void> {
  const first = engines[0];
  if (first !== undefined) process.title = `loom-engine ${first.modelName}`;
  // Sends not yet handed to the channel: awaited before this process ends, so a last message is never lost.
  const pending = new Set<Promise<void>>();
  const post = (workerId: number, msg: FromWorker): void => {
    const sent = send({ workerId, msg }).then(() => void pending.delete(sent));
    pending.add(sent);
  };
  for (const data of engines) if (!early.has(data.workerId)) early.set(data.workerId, []);
  const outcomes = await Promise.all(
    engines.map((data) =>
      runEngineUnit(data, {
        post: (msg: FromWorker) => post(data.workerId, msg),
        onMessage: (handler) => {
          handlers.set(data.workerId, handler);
          for (const msg of early.get(data.workerId)?.splice(0) ?? []) handler(msg);
        },
      }).then((outcome) => {
        // One engine that cannot load fails the process: the supervisor restarts all of them or reports the failure.
        if (outcome === "fatal") void Promise.all([...pending]).then(() => process.exit(1));
        return outcome;
      }),
    ),
  );
  await Promise.all([...pending]);
  if (outcomes.includes("fatal")) process.exit(1);
  // Every engine stopped and disposed llama.cpp: close the channel and let the process end by itself.
  if (process.connected) process.disconnect();
  setTimeout(() => process.exit(0), ORPHAN_EXIT_MS).unref();
}

process.on("message", (m: ToEngineProcess) => {
  if (m.type === "init") {
    if (started) return;
    started = true;
    void serve(m.engines);
    return;
  }
  const handler = handlers.get(m.workerId);
  if (handler !== undefined) return handler(m.msg);
  const queued = early.get(m.workerId) ?? [];
  queued.push(m.msg);
  early.set(m.workerId, queued);
});

// The server died (SIGKILL, a crash): stop the engines and end, bounded; never linger as an orphan holding the model.
process.once("disconnect", () => {
  shutdownAll();
  setTimeout(() => process.exit(0), ORPHAN_EXIT_MS).unref();
});
// A terminal's Ctrl-C, or a SIGTERM to the whole group (systemd's default KillMode, `kill -TERM -<pgid>`, tini -g),
// reaches this process too: the server owns shutdown (it drains, then stops the engines over the channel), so the
// engines must not cancel their requests first. SIGKILL still ends this process; the server then restarts it.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});

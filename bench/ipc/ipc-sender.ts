// The sending side of bench/ipc/ipc-cost.ts: in a worker thread (workerData) or a forked process (argv), sends
// `count` copies of an engine step message shaped as the real one (one event per stream, a step's stats) to its
// parent, one at a time as the engine does, then a last "done" message with its own CPU time.

import { parentPort, workerData } from "node:worker_threads";
import type { FromWorker, SequenceEvent } from "../../src/engine-worker/worker-messages.js";

interface Job {
  readonly streams: number;
  readonly count: number;
}

export function stepMessage(streams: number, step: number): FromWorker {
  const events: SequenceEvent[] = Array.from({ length: streams }, (_, i) => ({
    id: `r${1000 + i}`,
    text: ` word${step % 97}`,
    tokenIds: [300 + ((step * 31 + i) % 29000)],
  }));
  const zero = { bytes: 0, entries: 0, maxBytes: 0, saves: 0, restores: 0, evictions: 0 };
  return {
    type: "step",
    events,
    stats: {
      steps: step,
      slots: streams,
      slotsBusy: streams,
      running: streams,
      waiting: 0,
      kvCellsUsed: streams * 100,
      kvCellsTotal: streams * 4096,
      lastStepMs: 20.5,
      lastBatchTokens: streams,
      lastDecodeTokens: streams,
      lastPrefillTokens: 0,
      lastKvCopies: 0,
      lastKvRestores: 0,
      hostTier: zero as never,
      prefillChunk: 256,
      speculation: {},
    },
  };
}

async function send(job: Job, post: (msg: unknown) => Promise<void>): Promise<void> {
  const start = process.cpuUsage();
  for (let i = 0; i < job.count; i++) await post(stepMessage(job.streams, i));
  const cpu = process.cpuUsage(start);
  await post({ type: "done", cpuUs: cpu.user + cpu.system });
}

if (parentPort !== null) {
  const port = parentPort;
  // postMessage never blocks; yield to the event loop between messages as the engine's step loop does.
  void send(workerData as Job, (msg) => new Promise((r) => (port.postMessage(msg), setImmediate(r))));
} else if (typeof process.send === "function") {
  const job = JSON.parse(process.argv[2] ?? "{}") as Job;
  // Paced as the thread is (hand over, yield a turn); the channel keeps order, and the last send is flushed first.
  void send(job, (msg) => new Promise((r) => (process.send?.(msg), setImmediate(r)))).then(() =>
    process.send?.({ type: "flushed" }, undefined, undefined, () => process.disconnect()),
  );
}

// Where engines run, seen from the server: a host holds one or more engines (a worker thread holds one; an engine
// process holds every engine of its model) and carries each engine's messages over a link. Hosts share a fate:
// when one ends, every engine in it has ended.

import type { FromWorker, ToWorker } from "../engine-worker/worker-messages.js";

export type EngineIsolation = "process" | "thread";

/** How a host ended: its exit code, or the signal that killed it (a process only). */
export interface EngineExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One engine's channel to the server. */
export interface EngineLink {
  post(msg: ToWorker): void;
  onMessage(handler: (msg: FromWorker) => void): void;
  /** The host could not be started or failed to carry a message. */
  onError(handler: (err: Error) => void): void;
}

export interface EngineHost {
  readonly isolation: EngineIsolation;
  /** The operating-system process the engines run in (the server's own for a thread). */
  readonly pid: number | null;
  /** One link per engine, in the order the engines were given. */
  readonly links: readonly EngineLink[];
  /** Resolves once, when the host has ended. */
  readonly exited: Promise<EngineExit>;
  /** End the host now, if it is a process (SIGKILL); a thread is never terminated (that aborts the server). */
  kill(): void;
}

/** Where the compiled engine-side entry points live (tests run src/*.ts, whose entries are built into dist/). */
export function engineEntry(file: string): URL {
  const here = import.meta.url;
  if (here.endsWith(".js")) return new URL(`../engine-worker/${file}`, here);
  return new URL(`../../dist/src/engine-worker/${file}`, here);
}

/** A host that could not be started (fork or Worker threw): it has already ended, and its engines report why. */
export function unstartedHost(isolation: EngineIsolation, engines: number, cause: unknown): EngineHost {
  const err = cause instanceof Error ? cause : new Error(String(cause));
  const link: EngineLink = { post: () => {}, onMessage: () => {}, onError: (handler) => queueMicrotask(() => handler(err)) };
  return { isolation, pid: null, links: Array.from({ length: engines }, () => link), exited: Promise.resolve({ code: null, signal: null }), kill: () => {} };
}

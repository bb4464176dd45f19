// Process-level safety net of the serving process. Every client input is meant to end in an error reply, never in
// a process exit; a promise rejection nobody handled is a bug in Loom, so it is logged as one and the server keeps
// serving everyone else (Node's default would exit the process, taking every stream with it).

import type { Logger } from "pino";

export function guardUnhandledRejections(logger: Logger): () => void {
  const onRejection = (reason: unknown): void => {
    const err = reason instanceof Error ? { message: reason.message, stack: reason.stack } : { message: String(reason) };
    logger.error({ err }, "BUG: unhandled promise rejection (still serving; please report it)");
  };
  process.on("unhandledRejection", onRejection);
  return () => process.off("unhandledRejection", onRejection);
}

/**
 * After a graceful stop the process should end by itself; if some handle still holds it (an engine thread stuck
 * in native code past the stop grace), end it anyway so shutdown stays bounded. The timer does not hold it alive.
 */
export function exitIfStillAlive(code: number, afterMs: number): void {
  setTimeout(() => process.exit(code), afterMs).unref();
}

// Structured JSON-lines logging (pino): one logger for the process, level-guarded so disabled levels cost nothing.

import { pino, type Logger } from "pino";

export type LogFn = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "loom" }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Adapter for layers that take a plain log function instead of a pino logger. */
export function logFn(logger: Logger): LogFn {
  return (level, msg, fields) => {
    if (!logger.isLevelEnabled(level)) return;
    logger[level](fields ?? {}, msg);
  };
}

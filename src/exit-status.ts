// How a child process ended, in the shell's terms and in words for a log line (the launcher's server, an engine).

import { constants } from "node:os";

/** The shell's convention: a child's own exit code, or 128 + the number of the signal that killed it. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : constants.signals[signal];
  return n === undefined ? 1 : 128 + n;
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `was killed by ${signal}${signal === "SIGILL" ? " (an instruction this CPU lacks: try --native-build never)" : ""}`;
  return `exited with code ${code ?? "unknown"}`;
}

// The launcher's report of how the server died (exit code, or 128 + signal number as shells do) and the serving
// process's guard that logs an unhandled rejection as a bug instead of exiting.
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { describeExit, exitStatusOf } from "../../../src/exit-status.js";
import { guardUnhandledRejections } from "../../../src/support/process-guards.js";

describe("exitStatusOf / describeExit", () => {
  it("passes exit codes through and maps signals to 128 + their number", () => {
    expect(exitStatusOf(0, null)).toBe(0);
    expect(exitStatusOf(3, null)).toBe(3);
    expect(exitStatusOf(null, "SIGKILL")).toBe(137);
    expect(exitStatusOf(null, "SIGSEGV")).toBe(139);
    expect(exitStatusOf(null, "SIGILL")).toBe(132);
    expect(exitStatusOf(null, null)).toBe(1);
  });

  it("says which signal, with a hint for an illegal instruction", () => {
    expect(describeExit(null, "SIGSEGV")).toBe("was killed by SIGSEGV");
    expect(describeExit(null, "SIGILL")).toMatch(/SIGILL.*--native-build never/);
    expect(describeExit(2, null)).toBe("exited with code 2");
  });
});

describe("guardUnhandledRejections", () => {
  it("logs an unhandled rejection as a bug, with its stack, and the process goes on", () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (l: string) => void lines.push(l) });
    const off = guardUnhandledRejections(logger);
    try {
      process.emit("unhandledRejection", new Error("lost"), Promise.resolve());
    } finally {
      off();
    }
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string) as { msg: string; err: { message: string; stack: string } };
    expect(line.msg).toMatch(/BUG: unhandled promise rejection/);
    expect(line.err.message).toBe("lost");
    expect(line.err.stack).toContain("process-exit.test.ts");
  });
});

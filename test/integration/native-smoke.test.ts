// The native-build smoke test runs for real in a child process: it passes with the binary this machine loads, and a
// build that dies mid-test (injected SIGILL, as a -march=native build did on Sapphire Rapids) is a failed verdict,
// not a crash of the process that asked.
import { describe, expect, it } from "vitest";
import { runSmoke } from "../../src/support/native-build-check.js";

describe("native-build smoke test", () => {
  it("decodes F16 and Q8_0 models in a child process", async () => {
    const v = await runSmoke();
    expect(v).toMatchObject({ ok: true, detail: "ok" });
  });

  it("reports a child killed by SIGILL as a failed verdict", async () => {
    const v = await runSmoke({ ...process.env, LOOM_FAULT_INJECTION: "smoke-sigill" });
    expect(v).toMatchObject({ ok: false, detail: "signal SIGILL" });
  });
});

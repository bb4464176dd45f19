// The decision behind `--native-build auto`: no local build → auto; a local build is smoke-tested once per CPU and
// build, the verdict is kept beside it, and a failed one means the prebuilt binary ("never").
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkedNativeBuild, cpuIdentity, type CheckDeps, type SmokeVerdict } from "../../../src/support/native-build-check.js";

function fakeBuilds(): string {
  const dir = mkdtempSync(join(tmpdir(), "loom-builds-"));
  mkdirSync(join(dir, "linux-x64", "Release"), { recursive: true });
  writeFileSync(join(dir, "linux-x64", "Release", "llama-addon.node"), "");
  return dir;
}

function deps(dir: string | null, verdict: SmokeVerdict, cpu = "cpu A|avx2"): CheckDeps & { runs: number } {
  const d = { runs: 0, buildsDir: () => dir, cpu: () => cpu, smoke: async () => (d.runs++, verdict) };
  return d;
}

const ok: SmokeVerdict = { ok: true, detail: "ok", checkedAt: "t" };
const crashed: SmokeVerdict = { ok: false, detail: "signal SIGILL", checkedAt: "t" };
const quiet = (): void => {};

describe("checkedNativeBuild", () => {
  it("passes `never` through and needs no check without a local build", async () => {
    expect(await checkedNativeBuild("never", quiet, deps(fakeBuilds(), crashed))).toBe("never");
    const none = deps(null, crashed);
    expect(await checkedNativeBuild("auto", quiet, none)).toBe("auto");
    expect(none.runs).toBe(0);
  });

  it("falls back to the prebuilt when the smoke test crashed, says so, and remembers it for this CPU", async () => {
    const dir = fakeBuilds();
    const d = deps(dir, crashed);
    const logs: string[] = [];
    expect(await checkedNativeBuild("auto", (level, msg) => logs.push(`${level} ${msg}`), d)).toBe("never");
    expect(await checkedNativeBuild("auto", quiet, d)).toBe("never");
    expect(d.runs).toBe(1);
    expect(logs.some((l) => l.startsWith("warn") && l.includes("prebuilt"))).toBe(true);
    expect(Object.values(JSON.parse(readFileSync(join(dir, "loom-smoke.json"), "utf8")) as SmokeVerdict[])[0]?.detail).toBe("signal SIGILL");
  });

  it("uses a build that passed, and tests again on another CPU or after a rebuild", async () => {
    const dir = fakeBuilds();
    const d = deps(dir, ok);
    expect(await checkedNativeBuild("auto", quiet, d)).toBe("auto");
    expect(await checkedNativeBuild("auto", quiet, d)).toBe("auto");
    expect(d.runs).toBe(1);
    const other = deps(dir, crashed, "cpu B|avx512 amx");
    expect(await checkedNativeBuild("auto", quiet, other)).toBe("never");
    expect(other.runs).toBe(1);
    utimesSync(join(dir, "linux-x64", "Release", "llama-addon.node"), new Date(), new Date(Date.now() + 5_000));
    expect(await checkedNativeBuild("auto", quiet, d)).toBe("auto");
    expect(d.runs).toBe(2);
  });
});

describe("cpuIdentity", () => {
  it("is the first processor's model name and flags", () => {
    const info = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx512f amx_tile\n\nprocessor\t: 1\nmodel name\t: other\n";
    expect(cpuIdentity(info)).toBe("Intel Xeon|fpu avx512f amx_tile");
  });
});

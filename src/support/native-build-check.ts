// A local llama.cpp build (`npm run build:native`, -march=native) is compiled for one CPU and may crash another:
// seen on a Sapphire Rapids VM, SIGILL in an AMX kernel on the first Q8_0 decode, and the whole server gone without a
// log line. So before engines load it, `--native-build auto` smoke-tests it once per CPU in a child process
// (runtime/smoke-decode.ts: F16 and Q8_0 prefill and decode) and serves with the prebuilt binary when it fails. The
// verdict is kept beside the build, keyed by this CPU and the build's files, so later starts cost nothing.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { makeSyntheticModel } from "../../models/make-synthetic-model.js";
import { generatedDir } from "../../models/vocab-source.js";

export interface SmokeVerdict {
  readonly ok: boolean;
  /** How the child ended: "ok", "exit 1", "signal SIGILL", … */
  readonly detail: string;
  readonly checkedAt: string;
}

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export interface CheckDeps {
  /** node-llama-cpp's llama/localBuilds (null: none). */
  readonly buildsDir: () => string | null;
  readonly smoke: () => Promise<SmokeVerdict>;
  readonly cpu: () => string;
}

const REAL: CheckDeps = { buildsDir: localBuildsDir, smoke: () => runSmoke(), cpu: () => cpuIdentity() };

/** What `--native-build auto` may use on this machine: "auto" (the local build, verified, or none exists) or "never". */
export async function checkedNativeBuild(mode: "auto" | "never", log: Log, deps: CheckDeps = REAL): Promise<"auto" | "never"> {
  if (mode === "never") return "never";
  const dir = deps.buildsDir();
  const addons = dir === null ? [] : addonFiles(dir);
  if (dir === null || addons.length === 0) return "auto"; // nothing local: auto loads the prebuilt anyway
  const key = verdictKey(deps.cpu(), addons);
  const file = join(dir, "loom-smoke.json");
  let verdict = readVerdicts(file)[key];
  if (verdict === undefined) {
    log("info", "smoke-testing the local llama.cpp build on this CPU before serving with it", { build: dirname(addons[0] as string) });
    verdict = await deps.smoke();
    writeFileSync(file, JSON.stringify({ ...readVerdicts(file), [key]: verdict }, null, 2));
  }
  if (verdict.ok) return "auto";
  log(
    "warn",
    "the local llama.cpp build failed its smoke test on this CPU: serving with the prebuilt binary (rebuild with npm run build:native, or pass --native-build never)",
    {
      detail: verdict.detail,
    },
  );
  return "never";
}

/** Run the smoke decode in a child process; a crash there is a verdict, never this process's death. */
export async function runSmoke(env: NodeJS.ProcessEnv = process.env): Promise<SmokeVerdict> {
  const models = await smokeModels();
  const script = new URL(import.meta.url.endsWith(".ts") ? "../../dist/src/runtime/smoke-decode.js" : "../runtime/smoke-decode.js", import.meta.url);
  const child = spawn(process.execPath, [script.pathname, ...models], { env: { ...env, UV_THREADPOOL_SIZE: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
  const detail = signal !== null ? `signal ${signal}` : code === 0 ? "ok" : `exit ${code}: ${stderr.trim().slice(-300)}`;
  return { ok: code === 0 && signal === null, detail, checkedAt: new Date().toISOString() };
}

/** Tiny synthetic models in both weight types the crash was seen with, made once. */
async function smokeModels(): Promise<string[]> {
  return Promise.all(
    (["f16", "q8_0"] as const).map(async (quant) => {
      const path = join(generatedDir(), `smoke-${quant}.gguf`);
      if (!existsSync(path)) await makeSyntheticModel({ preset: "tiny", quant, outPath: path });
      return path;
    }),
  );
}

/** node-llama-cpp's llama/localBuilds, or null without one. */
function localBuildsDir(): string | null {
  let dir = dirname(createRequire(import.meta.url).resolve("node-llama-cpp"));
  while (!existsSync(join(dir, "llama"))) {
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
  const builds = join(dir, "llama", "localBuilds");
  return existsSync(builds) ? builds : null;
}

function addonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name, "Release", "llama-addon.node"))
    .filter((p) => existsSync(p))
    .sort();
}

/** The CPU as far as a -march=native build cares: its model and instruction-set flags. */
export function cpuIdentity(cpuinfo = safeRead("/proc/cpuinfo")): string {
  const first = cpuinfo.split("\n\n")[0] ?? "";
  const field = (name: string): string => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(first)?.[1]?.trim() ?? "";
  return `${field("model name")}|${field("flags")}`;
}

export function verdictKey(cpu: string, addons: readonly string[]): string {
  const h = createHash("sha256").update(cpu);
  for (const a of addons) h.update(`|${a}:${statSync(a).mtimeMs}`);
  return h.digest("hex").slice(0, 16);
}

function readVerdicts(file: string): Record<string, SmokeVerdict> {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, SmokeVerdict>;
  } catch {
    return {};
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

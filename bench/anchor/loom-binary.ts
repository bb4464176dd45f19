// Which llama.cpp binary a running Loom server loaded: the native/ build ("localBuild", under
// node_modules/node-llama-cpp/llama/localBuilds/) or node-llama-cpp's prebuilt one ("prebuilt", under
// node_modules/@node-llama-cpp/<platform>/). Taken from GET /v1/status (each worker reports its buildType),
// otherwise from the llama-addon.node mapped into the server process (/proc/<pid>/maps: its engine workers are
// threads of that process), so the report names the binary each run really used, not the one its flag asked for.

import { readFileSync } from "node:fs";
import type { LoomBinary } from "./anchor-report.js";

const LOCAL = "/node-llama-cpp/llama/localBuilds/";
const PREBUILT = "/@node-llama-cpp/";

/** The addon and its ggml backend libraries among a memory map's files; buildType from where the addon lies. */
export function binaryFromMaps(maps: string, nativeBuild: LoomBinary["nativeBuild"]): LoomBinary {
  const files = [
    ...new Set(
      maps
        .split("\n")
        .map((l) => l.trim().split(/\s+/).slice(5).join(" "))
        .filter((f) => f.startsWith("/")),
    ),
  ];
  const addon = files.find((f) => f.endsWith("/llama-addon.node")) ?? null;
  const dir = addon === null ? null : addon.slice(0, addon.lastIndexOf("/") + 1);
  const backends = dir === null ? [] : files.filter((f) => f.startsWith(dir) && /\/libggml-[a-z0-9_-]+\.so$/.test(f) && !f.endsWith("/libggml-base.so"));
  const buildType = addon === null ? "unknown" : addon.includes(LOCAL) ? "localBuild" : addon.includes(PREBUILT) ? "prebuilt" : "unknown";
  return {
    nativeBuild,
    buildType,
    source: addon === null ? "none" : "proc-maps",
    addon: addon === null ? null : short(addon),
    backends: backends.map((b) => b.slice(b.lastIndexOf("/") + 1)),
  };
}

/** A buildType anywhere in a /v1/status body (each worker's `backend.buildType`). */
export function buildTypeFromStatus(body: unknown): "localBuild" | "prebuilt" | null {
  if (body === null || typeof body !== "object") return null;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (k === "buildType" && (v === "localBuild" || v === "prebuilt")) return v;
    const inner = buildTypeFromStatus(v);
    if (inner !== null) return inner;
  }
  return null;
}

export async function loomBinary(url: string, pid: number | undefined, nativeBuild: LoomBinary["nativeBuild"]): Promise<LoomBinary> {
  const status = await fetch(`${url}/v1/status`).then(
    (r) => r.json() as Promise<unknown>,
    () => null,
  );
  // `loom serve` may relaunch itself (threadpool-relaunch.ts): the serving process reports its own pid.
  const servingPid = (status as { mainThread?: { pid?: unknown } } | null)?.mainThread?.pid;
  const mapsPid = typeof servingPid === "number" ? servingPid : pid;
  let maps = "";
  try {
    if (mapsPid !== undefined) maps = readFileSync(`/proc/${mapsPid}/maps`, "utf8");
  } catch {
    // not Linux, or the process is gone: fall back to the status body alone
  }
  const fromMaps = binaryFromMaps(maps, nativeBuild);
  const reported = buildTypeFromStatus(status);
  return reported === null ? fromMaps : { ...fromMaps, buildType: reported, source: "status" };
}

function short(path: string): string {
  const i = path.lastIndexOf("/node_modules/");
  return i < 0 ? path : path.slice(i + "/node_modules/".length);
}

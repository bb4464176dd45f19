// Which llama.cpp binary does Loom load? The getLlama() options behind `--native-build auto|never`, and a probe
// that loads the binary exactly as Loom's engine does and reports what it got (build type, GPU, the .node file).
//
// node-llama-cpp (3.22.1, dist/bindings/getLlama.js, loadExistingLlamaBinary) looks, per GPU type, for a local build
// first (llama/localBuilds/<platform>-<arch>[-<gpu>][-<hash of custom cmake options>]) and only then for a prebuilt
// binary (@node-llama-cpp/<platform>-<arch>[-<gpu>]). No option or env var skips the local build. What does:
// a custom cmake option changes the local-build folder it looks for (the hash), so no local build matches, while
// the prebuilt lookup ignores custom cmake options unless existingPrebuiltBinaryMustMatchBuildOptions is true.
// With build: "never" nothing is compiled for the unknown option. Verified: "auto" -> localBuild, "never" -> prebuilt.

import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { getLlama, LlamaLogLevel, type Llama, type LlamaOptions } from "node-llama-cpp";
import { binarySelectionOptions } from "../src/runtime/llama-backend.js";

export type NativeBuildMode = "auto" | "never";
export type GpuChoice = "auto" | "cuda" | "vulkan" | "cpu";

export interface ProbeResult {
  readonly buildType: "localBuild" | "prebuilt";
  readonly gpu: string | false;
  /** The llama-addon.node file the process mapped (Linux; null elsewhere). */
  readonly binaryPath: string | null;
  /** ggml CPU backend libraries mapped: the prebuilt picks one of its x86 variants at load time. */
  readonly cpuBackends: readonly string[];
  readonly cmakeOptions: Readonly<Record<string, string>>;
  readonly llamaCppRelease: string;
  readonly cpuInfo: string;
}

/** getLlama() options exactly as Loom's engine builds them (src/runtime/llama-backend.ts), plus the mode recipe. */
export function loomLlamaOptions(opts: { gpu: GpuChoice; nativeBuild: NativeBuildMode; maxThreads: number }): LlamaOptions {
  return {
    gpu: opts.gpu === "cpu" ? false : opts.gpu,
    maxThreads: opts.maxThreads,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    ...binarySelectionOptions(opts.nativeBuild),
  };
}

export function describeLlama(llama: Llama): ProbeResult {
  // Mapped files are listed by address and stay mapped after dispose(), so pick the addon by where it lives.
  const mapped = mappedFiles();
  const isLocal = (p: string): boolean => p.includes("/llama/localBuilds/");
  const binaryPath = mapped.find((p) => p.endsWith("llama-addon.node") && isLocal(p) === (llama.buildType === "localBuild")) ?? null;
  const binDir = binaryPath === null ? null : dirname(binaryPath);
  return {
    buildType: llama.buildType,
    gpu: llama.gpu,
    binaryPath,
    cpuBackends: mapped.filter((p) => dirname(p) === binDir && /libggml-cpu[^/]*\.so/.test(p)),
    cmakeOptions: llama.cmakeOptions,
    llamaCppRelease: `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`,
    cpuInfo: llama.systemInfo,
  };
}

/** Load the binary Loom would load for these options, describe it, dispose it. Throws NoBinaryFoundError if none. */
export async function probeBackend(opts: { gpu: GpuChoice; nativeBuild: NativeBuildMode }): Promise<ProbeResult> {
  const llama = await getLlama(loomLlamaOptions({ ...opts, maxThreads: 1 }));
  try {
    return describeLlama(llama);
  } finally {
    await llama.dispose();
  }
}

/** Distinct file paths in this process's memory map, in load order (empty where /proc is absent). */
function mappedFiles(): string[] {
  let maps: string;
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return [];
  }
  const seen = new Set<string>();
  for (const line of maps.split("\n")) {
    const file = line.split(/\s+/).slice(5).join(" ");
    if (file.startsWith("/")) seen.add(file);
  }
  return [...seen];
}

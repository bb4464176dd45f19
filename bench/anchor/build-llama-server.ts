// Builds llama.cpp's `llama-server` offline from the source node-llama-cpp ships (its git bundle, or the checkout a
// `source download` left in node_modules) the way node-llama-cpp builds its prebuilt binary, so both run the same
// kernels: GGML_NATIVE=OFF, GGML_BACKEND_DL=ON (the CPU backend is a module loaded at start), GGML_OPENMP=OFF, and the
// x86 feature set of the CPU variant the prebuilt loads on this machine (`zen4`, `sapphirerapids`, … read from the
// variant list in the source's ggml/src/CMakeLists.txt). A -march=native anchor was not the same work: on a Sapphire
// Rapids VM it died with SIGILL in an AMX kernel the prebuilt's variant never runs. When no variant can be found
// (no prebuilt for this platform), every variant is built, as the prebuilt does. Target llama-server only, -j2.
// Then the kernels themselves are made identical: a compiler is not a constant (the same source and flags built
// here decoded ~12–25% apart from the prebuilt's library on one machine), so llama-server runs from a folder beside
// the build holding a copy of the binary and the prebuilt's own libggml-cpu-<variant>.so (its CPU backend, loaded
// from the executable's folder; ggml-base is the build's, same commit). Both engines then execute the same machine
// code and the comparison is of everything around it.
// Cached per variant under bench/anchor/.cache/build-<variant>/ (gitignored). Runnable on its own:
// `node dist/bench/anchor/build-llama-server.js [model.gguf]`.

import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { prebuiltVariant } from "./prebuilt-variant.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const CACHE_DIR = `${ROOT}bench/anchor/.cache`;
const SRC = `${CACHE_DIR}/src`;
const BUNDLE = `${ROOT}node_modules/node-llama-cpp/llama/gitRelease.bundle`;
const CHECKOUT = `${ROOT}node_modules/node-llama-cpp/llama/llama.cpp`;
const DEFAULT_MODEL = `${ROOT}models/generated/tiny.gguf`;
const PREBUILT_BINS = `${ROOT}node_modules/@node-llama-cpp/${process.platform}-${process.arch}/bins/${process.platform}-${process.arch}`;

/** Every x86 feature switch a CPU variant sets on or off (ggml_add_cpu_backend_variant clears them all first). */
const X86_FEATURES = [
  "SSE42",
  "AVX",
  "AVX2",
  "BMI2",
  "AVX_VNNI",
  "FMA",
  "F16C",
  "AVX512",
  "AVX512_VBMI",
  "AVX512_VNNI",
  "AVX512_BF16",
  "AMX_TILE",
  "AMX_INT8",
  "AMX_BF16",
];

const COMMON_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=ON",
  "-DGGML_NATIVE=OFF",
  "-DGGML_BACKEND_DL=ON",
  "-DGGML_OPENMP=OFF", // the prebuilt is built with OpenMP off (node-llama-cpp's CI mode): ggml's own threadpool
  "-DLLAMA_CURL=OFF", // deprecated at this version (warns), kept for older sources
  "-DLLAMA_OPENSSL=OFF",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_SERVER=ON",
  "-DLLAMA_USE_PREBUILT_UI=OFF", // otherwise the UI step may try to fetch a prebuilt web UI
];

export interface BuildResult {
  readonly binary: string;
  readonly cached: boolean;
  readonly buildSeconds: number;
  /** The prebuilt CPU variant whose features the build uses, or "all-variants". */
  readonly variant: string;
  /** How it was configured, for the report. */
  readonly description: string;
}

/** The feature list of `variant` in ggml's CMakeLists (`ggml_add_cpu_backend_variant(zen4 SSE42 AVX …)`). */
export function variantFeatures(cmakeLists: string, variant: string): string[] | null {
  const line = cmakeLists.split("\n").find((l) => new RegExp(`^\\s*ggml_add_cpu_backend_variant\\(${variant.replace(/\./g, "\\.")}[\\s)]`).test(l));
  if (line === undefined) return null;
  const inner = line
    .slice(line.indexOf("(") + 1, line.lastIndexOf(")"))
    .trim()
    .split(/\s+/);
  return inner.slice(1);
}

/** CMake switches for one variant's features: those listed on, every other x86 feature off. */
export function variantFlags(features: readonly string[]): string[] {
  return X86_FEATURES.map((f) => `-DGGML_${f}=${features.includes(f) ? "ON" : "OFF"}`);
}

/** The llama-server binary, building it first when the cache lacks it. */
export async function ensureLlamaServer(
  modelPath: string = DEFAULT_MODEL,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<BuildResult> {
  mkdirSync(CACHE_DIR, { recursive: true });
  await ensureSource(log);
  const variant = prebuiltVariant(modelPath);
  const features = variant === null ? null : variantFeatures(readFileSync(`${SRC}/ggml/src/CMakeLists.txt`, "utf8"), variant);
  const tag = variant !== null && features !== null ? variant : "all-variants";
  const flags = features !== null ? variantFlags(features) : ["-DGGML_CPU_ALL_VARIANTS=ON"];
  const description =
    features !== null
      ? `the prebuilt's way: GGML_BACKEND_DL, OpenMP off, CPU variant ${tag} (${features.join(" ") || "baseline x86-64"}), Release`
      : "the prebuilt's way: GGML_BACKEND_DL, OpenMP off, every CPU variant (the prebuilt's variant on this machine was not found), Release";
  const build = `${CACHE_DIR}/build-${tag}`;
  const built = `${build}/bin/llama-server`;
  const kernels = variant === null ? null : `${PREBUILT_BINS}/libggml-cpu-${variant}.so`;
  const withKernels = kernels !== null && existsSync(kernels) ? `${description}; runs the prebuilt's libggml-cpu-${variant}.so` : description;
  if (existsSync(built)) return { binary: withPrebuiltKernels(built, kernels), cached: true, buildSeconds: 0, variant: tag, description: withKernels };
  const t0 = performance.now();
  log(`[anchor] configuring llama.cpp: ${description}`);
  await exec("cmake", ["-S", SRC, "-B", build, ...COMMON_FLAGS, ...flags]);
  log("[anchor] building llama-server with -j2 (about 10–12 min on 2 cores)");
  await exec("cmake", ["--build", build, "--config", "Release", "--target", "llama-server", "-j2"]);
  if (!existsSync(built)) throw new Error(`build finished but ${built} is missing`);
  const buildSeconds = (performance.now() - t0) / 1000;
  log(`[anchor] built llama-server in ${buildSeconds.toFixed(0)} s`);
  return { binary: withPrebuiltKernels(built, kernels), cached: false, buildSeconds, variant: tag, description: withKernels };
}

/**
 * A folder beside the build with a copy of llama-server (ggml looks for backends beside the executable, and a
 * symlink would resolve to the build's folder), the prebuilt's CPU backend and a libggml-base.so pointing at the
 * build's (the module's unversioned NEEDED). Without the prebuilt's library, the build's own binary.
 */
function withPrebuiltKernels(built: string, kernels: string | null): string {
  if (kernels === null || !existsSync(kernels)) return built;
  const bin = dirname(built);
  const dir = `${bin}-prebuilt-kernels`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, `${dir}/llama-server`);
  copyFileSync(kernels, `${dir}/${kernels.slice(kernels.lastIndexOf("/") + 1)}`);
  symlinkSync(`${bin}/libggml-base.so.0`, `${dir}/libggml-base.so`);
  return `${dir}/llama-server`;
}

async function ensureSource(log: (line: string) => void): Promise<void> {
  if (existsSync(`${SRC}/CMakeLists.txt`)) return;
  if (existsSync(BUNDLE)) {
    log(`[anchor] cloning ${BUNDLE} → ${SRC}`);
    await exec("git", ["clone", "--quiet", BUNDLE, SRC]);
  } else if (existsSync(`${CHECKOUT}/CMakeLists.txt`)) {
    log(`[anchor] copying ${CHECKOUT} → ${SRC}`);
    cpSync(CHECKOUT, SRC, { recursive: true });
  } else {
    throw new Error("no llama.cpp source: neither node-llama-cpp's gitRelease.bundle nor its llama.cpp checkout exists");
  }
}

function exec(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`))));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureLlamaServer(process.argv[2])
    .then((r) => process.stdout.write(`${r.binary} (${r.description}; ${r.cached ? "cached" : `built in ${r.buildSeconds.toFixed(0)} s`})\n`))
    .catch((err: unknown) => {
      process.stderr.write(`llama-server build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}

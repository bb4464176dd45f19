// `npm run build:native`: compile llama.cpp's Node addon for this machine from the source bundled inside
// node-llama-cpp (llama/gitRelease.bundle, cloned locally: no network), then load it the way Loom does.
// Wraps `node-llama-cpp source download` / `source build`. A CPU build gets GGML_NATIVE=ON (-march=native) and
// OpenMP by default (compileLLamaCpp.js sets GGML_NATIVE for a same-platform, non-CI build). Flags: see usage().

import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import { checkedNativeBuild } from "../src/support/native-build-check.js";
import { describeLlama, probeBackend, type ProbeResult } from "./probe-backend.js";

type Gpu = "cpu" | "cuda" | "vulkan";
interface Args {
  readonly gpu: Gpu;
  readonly cudaArch: string | null;
  readonly force: boolean;
}

const CMAKE_OPTION_ENV = "NODE_LLAMA_CPP_CMAKE_OPTION_";

function usage(): string {
  return [
    "usage: npm run build:native -- [--gpu cpu|cuda|vulkan] [--cuda-arch 90] [--force]",
    "  --gpu        backend to compile (default cpu); cuda needs the CUDA toolkit incl. cuBLAS, vulkan needs",
    "               the Vulkan headers/loader and glslc",
    "  --cuda-arch  CMAKE_CUDA_ARCHITECTURES, e.g. 90 for H100/H200 (default: the GPUs present at build time)",
    "  --force      rebuild even if a matching local build exists",
    "The result lands in node_modules/node-llama-cpp/llama/localBuilds/ and Loom uses it unless --native-build never.",
  ].join("\n");
}

function parse(argv: string[]): Args | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      gpu: { type: "string", default: "cpu" },
      "cuda-arch": { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  const gpu = values.gpu;
  if (gpu !== "cpu" && gpu !== "cuda" && gpu !== "vulkan") throw new Error(`--gpu must be cpu, cuda or vulkan (got "${gpu}")`);
  const cudaArch = values["cuda-arch"] ?? null;
  if (cudaArch !== null && gpu !== "cuda") throw new Error("--cuda-arch only applies to --gpu cuda");
  if (cudaArch !== null && !/^[0-9a-z;,-]+$/i.test(cudaArch)) throw new Error(`bad --cuda-arch "${cudaArch}" (e.g. 90 or 80;90)`);
  return { gpu, cudaArch: cudaArch?.replaceAll(",", ";") ?? null, force: values.force };
}

const log = (msg: string): void => console.log(`[build:native] ${msg}`);

function findOnPath(name: string, extraDirs: readonly string[] = []): string | null {
  const dirs = [...(process.env["PATH"] ?? "").split(path.delimiter), ...extraDirs].filter((d) => d !== "");
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

function firstExisting(candidates: readonly string[]): string | null {
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** node-llama-cpp runs `npm run cmake-js-llama` ("cd llama && cmake-js"): cmake-js must be on npm's PATH. */
function ensureCmakeJs(pkgDir: string, env: NodeJS.ProcessEnv): void {
  for (let dir = pkgDir; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "node_modules", ".bin", "cmake-js"))) return;
    if (path.dirname(dir) === dir) break;
  }
  let pkgJson: string;
  try {
    pkgJson = createRequire(path.join(pkgDir, "package.json")).resolve("cmake-js/package.json");
  } catch {
    throw new Error("cmake-js (a node-llama-cpp dependency) is not installed: run `npm install`");
  }
  const bin = (JSON.parse(readFileSync(pkgJson, "utf8")) as { bin?: Record<string, string> }).bin?.["cmake-js"];
  if (bin === undefined) throw new Error(`${pkgJson} has no "cmake-js" bin`);
  const shimDir = mkdtempSync(path.join(os.tmpdir(), "loom-cmake-js-"));
  symlinkSync(path.resolve(path.dirname(pkgJson), bin), path.join(shimDir, "cmake-js"));
  env["PATH"] = `${shimDir}${path.delimiter}${env["PATH"] ?? ""}`;
  log(`node_modules/.bin/cmake-js is missing (npm skipped bin links?): using a shim in ${shimDir}`);
}

/** Checks that fail fast with a clear message instead of 5 minutes into cmake. Mutates env (headers, PATH). */
function preflight(args: Args, pkgDir: string, env: NodeJS.ProcessEnv): void {
  const problems: string[] = [];
  if (findOnPath("cmake") === null) problems.push("cmake not found (apt-get install cmake)");
  if (findOnPath("c++") === null && findOnPath("g++") === null) problems.push("no C++ compiler (apt-get install g++)");
  if (findOnPath("ninja") === null) log("ninja not found: cmake falls back to make (slower); apt-get install ninja-build");
  // cmake-js wants Node's headers; with npm_config_nodedir it reads them locally instead of downloading them.
  const nodeDir = path.resolve(path.dirname(process.execPath), "..");
  if (env["npm_config_nodedir"] === undefined && existsSync(path.join(nodeDir, "include", "node", "node_api.h"))) {
    env["npm_config_nodedir"] = nodeDir;
  } else if (env["npm_config_nodedir"] === undefined) {
    log(`no Node headers under ${nodeDir}/include/node: cmake-js will download them (needs network)`);
  }
  if (args.gpu === "cuda") {
    const cudaRoot = env["CUDA_PATH"] ?? "/usr/local/cuda";
    const nvcc = findOnPath("nvcc", [path.join(cudaRoot, "bin")]);
    if (nvcc === null) problems.push(`nvcc not found (PATH, ${cudaRoot}/bin): install the CUDA toolkit`);
    const libDirs = [`${cudaRoot}/lib64`, `${cudaRoot}/targets/x86_64-linux/lib`, "/usr/lib/x86_64-linux-gnu"];
    const cublas = firstExisting(libDirs.map((d) => path.join(d, "libcublas.so")));
    if (cublas === null) {
      problems.push(
        `cuBLAS not found (libcublas.so in ${libDirs.join(", ")}): ggml-cuda links CUDA::cublas, so the CUDA ` +
          "build needs the full toolkit (e.g. apt-get install cuda-toolkit-13-0 or libcublas-dev-13-0), not just nvcc",
      );
    }
    if (args.cudaArch === null) log("no --cuda-arch: GGML_NATIVE makes cmake target the GPUs visible now (fails without one)");
  }
  if (args.gpu === "vulkan") {
    if (findOnPath("glslc") === null) problems.push("glslc not found (apt-get install glslc)");
    if (!existsSync("/usr/include/vulkan/vulkan.h")) problems.push("Vulkan headers not found (apt-get install libvulkan-dev)");
  }
  if (problems.length > 0) throw new Error(`cannot build for ${args.gpu}:\n  - ${problems.join("\n  - ")}`);
  ensureCmakeJs(pkgDir, env);
}

function run(label: string, cmd: string, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  log(`$ node ${argv.map((a) => a.replace(/^.*node_modules\//, "node_modules/")).join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: "inherit", env });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** A local build Loom would pick for this backend, loaded without prebuilt fallback; null if none matches. */
async function existingLocalBuild(args: Args): Promise<ProbeResult | null> {
  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: args.gpu === "cpu" ? false : args.gpu,
      build: "never",
      usePrebuiltBinaries: false,
      skipDownload: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
      maxThreads: 1,
    });
  } catch {
    return null;
  }
  try {
    const found = describeLlama(llama);
    const arch = found.cmakeOptions["CMAKE_CUDA_ARCHITECTURES"] ?? null;
    if (args.cudaArch !== null && arch !== args.cudaArch) {
      log(`a local ${args.gpu} build exists but for CUDA arch ${arch ?? "native"}, not ${args.cudaArch}: rebuilding`);
      return null;
    }
    return found;
  } finally {
    await llama.dispose();
  }
}

function report(r: ProbeResult): void {
  log(`buildType: ${r.buildType}`);
  log(`gpu:       ${String(r.gpu)}`);
  log(`binary:    ${r.binaryPath ?? "(unknown)"}`);
  if (r.cpuBackends.length > 0) log(`cpu libs:  ${r.cpuBackends.map((p) => path.basename(p)).join(", ")}`);
  if (Object.keys(r.cmakeOptions).length > 0) log(`cmake:     ${JSON.stringify(r.cmakeOptions)}`);
  log(`llama.cpp: ${r.llamaCppRelease}`);
  log(`cpu:       ${r.cpuInfo.trim()}`);
}

function elapsed(startMs: number): string {
  const s = Math.round((performance.now() - startMs) / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

async function main(): Promise<number> {
  let args: Args | null;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`[build:native] ${err instanceof Error ? err.message : String(err)}\n${usage()}`);
    return 2;
  }
  if (args === null) {
    console.log(usage());
    return 0;
  }
  const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
  const cli = path.join(pkgDir, "dist", "cli", "cli.js");
  const gpuFlag = args.gpu === "cpu" ? "false" : args.gpu;

  // Custom cmake options from the shell would make node-llama-cpp look for a differently named build folder;
  // Loom runs without them, so the checks here run without them too (they still reach the compiler below).
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith(CMAKE_OPTION_ENV)) delete process.env[key];

  if (!args.force) {
    const existing = await existingLocalBuild(args);
    if (existing !== null) {
      log(`a local ${args.gpu} build already exists (use --force to rebuild):`);
      report(existing);
      return smokeTested();
    }
  }

  try {
    preflight(args, pkgDir, childEnv);
  } catch (err) {
    console.error(`[build:native] ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const start = performance.now();
  try {
    if (!existsSync(path.join(pkgDir, "llama", "llama.cpp", "CMakeLists.txt"))) {
      if (!existsSync(path.join(pkgDir, "llama", "gitRelease.bundle"))) log("no gitRelease.bundle: the download needs GitHub");
      await run("source download", process.execPath, [cli, "source", "download", "--gpu", gpuFlag, "--skipBuild", "--noUsageExample"], childEnv);
    } else {
      log("llama.cpp source already present in node_modules/node-llama-cpp/llama/llama.cpp");
    }
    const buildArgv = [cli, "source", "build", "--gpu", gpuFlag, "--noUsageExample"];
    if (args.cudaArch !== null) childEnv[`${CMAKE_OPTION_ENV}CMAKE_CUDA_ARCHITECTURES`] = args.cudaArch;
    if (Object.keys(childEnv).some((k) => k.startsWith(CMAKE_OPTION_ENV))) {
      // Custom cmake options would put the build in <folder>-<hash>, which getLlama() only finds when given the
      // same cmakeOptions. The CLI's (hidden) CI flag keeps the plain folder name, so Loom finds it unchanged.
      childEnv["CI"] = "true";
      buildArgv.push("--noCustomCmakeBuildOptionsInBinaryFolderName");
    }
    log(`compiling llama.cpp for ${args.gpu} with ${os.cpus().length} cores (about 9 min on 2 cores for CPU)`);
    await run("source build", process.execPath, buildArgv, childEnv);
  } catch (err) {
    console.error(`[build:native] build failed after ${elapsed(start)}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  log(`build took ${elapsed(start)}`);

  // Verify with Loom's own selection (--native-build auto): the local build must win over the prebuilt.
  try {
    const probe = await probeBackend({ gpu: args.gpu, nativeBuild: "auto" });
    report(probe);
    if (probe.buildType !== "localBuild") {
      console.error("[build:native] Loom's getLlama() options still pick the prebuilt binary: the local build was not found");
      return 1;
    }
  } catch (err) {
    console.error(`[build:native] built, but loading it failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  return smokeTested();
}

/** Decode with the build in a child process (F16 and Q8_0); a build that fails is never selected on this CPU. */
async function smokeTested(): Promise<number> {
  log("smoke test: prefill and decode F16 and Q8_0 models in a child process");
  const mode = await checkedNativeBuild("auto", (level, msg, fields) => log(`${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`));
  if (mode === "never") {
    console.error("[build:native] the build failed its smoke test on this CPU: Loom will serve with the prebuilt binary instead");
    return 1;
  }
  log("ok: Loom will use this build (pass --native-build never to force the prebuilt)");
  return 0;
}

process.exitCode = await main();

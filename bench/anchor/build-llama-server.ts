// Builds llama.cpp's `llama-server` offline from the source node-llama-cpp ships (its git bundle, or the checkout a
// `source download` left in node_modules), CMake Release with -march=native, target llama-server only, -j2. Cached
// under bench/anchor/.cache/ (gitignored): if the binary is there it is reused. Runnable on its own:
// `node dist/bench/anchor/build-llama-server.js`.

import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const CACHE_DIR = `${ROOT}bench/anchor/.cache`;
const SRC = `${CACHE_DIR}/src`;
const BUILD = `${CACHE_DIR}/build`;
export const LLAMA_SERVER_BIN = `${BUILD}/bin/llama-server`;
const BUNDLE = `${ROOT}node_modules/node-llama-cpp/llama/gitRelease.bundle`;
const CHECKOUT = `${ROOT}node_modules/node-llama-cpp/llama/llama.cpp`;

const CMAKE_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DGGML_NATIVE=ON",
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
}

/** The llama-server binary, building it first when the cache lacks it. */
export async function ensureLlamaServer(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<BuildResult> {
  if (existsSync(LLAMA_SERVER_BIN)) return { binary: LLAMA_SERVER_BIN, cached: true, buildSeconds: 0 };
  const t0 = performance.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  if (!existsSync(`${SRC}/CMakeLists.txt`)) {
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
  log("[anchor] configuring llama.cpp (CMake Release, GGML_NATIVE=ON)");
  await exec("cmake", ["-S", SRC, "-B", BUILD, ...CMAKE_FLAGS]);
  log("[anchor] building llama-server with -j2 (about 10–12 min on 2 cores)");
  await exec("cmake", ["--build", BUILD, "--config", "Release", "--target", "llama-server", "-j2"]);
  if (!existsSync(LLAMA_SERVER_BIN)) throw new Error(`build finished but ${LLAMA_SERVER_BIN} is missing`);
  const buildSeconds = (performance.now() - t0) / 1000;
  log(`[anchor] built llama-server in ${buildSeconds.toFixed(0)} s`);
  return { binary: LLAMA_SERVER_BIN, cached: false, buildSeconds };
}

function exec(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`))));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureLlamaServer()
    .then((r) => process.stdout.write(`${r.binary}${r.cached ? " (cached)" : ` (built in ${r.buildSeconds.toFixed(0)} s)`}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`llama-server build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}

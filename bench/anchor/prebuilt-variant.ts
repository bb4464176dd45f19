// Which CPU variant of node-llama-cpp's prebuilt binary this machine loads (`zen4`, `sapphirerapids`, …): the
// prebuilt ships one libggml-cpu-<variant>.so per x86 feature level and ggml maps the best one the CPU supports when
// the first model loads. Run as a child (`node dist/bench/anchor/prebuilt-variant.js <model.gguf>`) so the bench
// process never loads llama.cpp itself; prints the variant name, or nothing when no variant library was mapped.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { binarySelectionOptions } from "../../src/runtime/llama-backend.js";

/** The variant names among a memory map's libggml-cpu-<variant>.so files. */
export function variantsInMaps(maps: string): string[] {
  return [...new Set([...maps.matchAll(/\/libggml-cpu-([a-z0-9_.]+)\.so\b/g)].map((m) => m[1] ?? ""))].filter((v) => v !== "");
}

/** The prebuilt's variant on this machine, from a child process that loads `modelPath` with it. */
export function prebuiltVariant(modelPath: string): string | null {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), modelPath], { encoding: "utf8", timeout: 120_000 });
  const v = child.stdout.trim();
  return child.status === 0 && v !== "" ? v : null;
}

async function probe(modelPath: string): Promise<void> {
  const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, progressLogs: false, ...binarySelectionOptions("never") });
  const model = await llama.loadModel({ modelPath });
  const variants = variantsInMaps(readFileSync("/proc/self/maps", "utf8"));
  await model.dispose();
  await llama.dispose();
  if (variants.length === 1) process.stdout.write(`${variants[0]}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] !== undefined) {
  probe(process.argv[2]).catch((err: unknown) => {
    process.stderr.write(`prebuilt-variant: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

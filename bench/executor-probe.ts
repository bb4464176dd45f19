// The bench model on Loom's own executor, for benches that time single steps (flash-attn, narrow-prefill): loaded on
// the CPU with the bench config's threads, the prebuilt binary, and a step runner that samples nothing.

import { loadLlamaBackend, type LlamaBackend } from "../src/runtime/llama-backend.js";
import type { KvOp, StepEntry } from "../src/runtime/step-plan.js";
import type { BenchConfig } from "./bench-config.js";

export interface ExecutorProbe {
  readonly backend: LlamaBackend;
  /** Runs one step (its KV operations first) and returns its ms. */
  readonly timed: (entries: StepEntry[], kvOps?: KvOp[]) => Promise<number>;
}

export async function loadExecutorProbe(
  cfg: BenchConfig,
  shape: { readonly slots: number; readonly slotContextSize: number; readonly ubatchSize: number; readonly flashAttn: "auto" | "on" | "off" },
): Promise<ExecutorProbe> {
  const backend = await loadLlamaBackend({
    modelPath: cfg.modelPath,
    ...shape,
    threads: cfg.threads,
    threadsBatch: cfg.threadsBatch,
    gpu: "cpu",
    gpuLayers: 0,
    nativeBuild: "never",
    log: () => undefined,
  });
  const noSampling = (): never => {
    throw new Error("nothing is sampled");
  };
  const timed = async (entries: StepEntry[], kvOps: KvOp[] = []): Promise<number> => {
    const t0 = performance.now();
    await backend.step({ step: 0, kvOps, entries, decodeTokens: 0, prefillTokens: 0 }, noSampling);
    return performance.now() - t0;
  };
  return { backend, timed };
}

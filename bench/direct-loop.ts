// The baseline Loom is measured against: a minimal loop that drives node-llama-cpp directly in one process with the
// same binary and threads: N sequences advanced in lockstep with evaluate() generators, greedy, EOS yielded like any
// token (so it never ends early). Usage: node dist/bench/direct-loop.js <model.gguf> <threads> <prompt> <gen> [seqs]

import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { binarySelectionOptions } from "../src/runtime/llama-backend.js";

export interface DirectLoopResult {
  readonly sequences: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly tokensPerSecond: number;
  readonly msPerStep: number;
  readonly buildType: string;
}

export async function runDirectLoop(modelPath: string, threads: number, promptTokens: number, genTokens: number, sequences = 1): Promise<DirectLoopResult> {
  // The same binary Loom's engine loads (LOOM_NATIVE_BUILD=never forces the prebuilt, as --native-build does).
  const mode = process.env.LOOM_NATIVE_BUILD === "never" ? "never" : "auto";
  const llama = await getLlama({ gpu: false, maxThreads: threads, logLevel: LlamaLogLevel.warn, ...binarySelectionOptions(mode) });
  const model = await llama.loadModel({ modelPath });
  const contextSize = Number(process.env.DIRECT_CTX ?? promptTokens + genTokens + 64);
  const context = await model.createContext({ sequences, contextSize, threads, batchSize: 512 });
  const seqs = Array.from({ length: sequences }, () => context.getSequence());
  const prompt = Array.from({ length: promptTokens }, (_, i) => (100 + ((i * 7919) % 30000)) as Token);
  const t0 = performance.now();
  // One evaluate() generator per sequence, all advanced in the same tick: node-llama-cpp merges them into one decode.
  const gens = seqs.map((s, k) => s.evaluate([...prompt, (200 + k) as Token], { temperature: 0, yieldEogToken: true }));
  await Promise.all(gens.map((g) => g.next()));
  const t1 = performance.now();
  for (let i = 1; i < genTokens; i++) await Promise.all(gens.map((g) => g.next()));
  const t2 = performance.now();
  await Promise.all(gens.map((g) => g.return(undefined)));
  const buildType = llama.buildType;
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  const steps = genTokens - 1;
  return {
    sequences,
    prefillMs: t1 - t0,
    decodeMs: t2 - t1,
    tokensPerSecond: (steps * sequences) / ((t2 - t1) / 1000),
    msPerStep: (t2 - t1) / steps,
    buildType,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [modelPath, threads = "1", prompt = "128", gen = "256", seqs = "1"] = process.argv.slice(2);
  if (modelPath === undefined) throw new Error("usage: direct-loop <model.gguf> [threads] [promptTokens] [genTokens] [sequences]");
  const r = await runDirectLoop(modelPath, Number(threads), Number(prompt), Number(gen), Number(seqs));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

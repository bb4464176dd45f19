// Where a decode step's time goes under node-llama-cpp: N sequences advanced in lockstep with evaluate() generators
// (as Loom's engine does), with the native context handle wrapped to time llama_decode (decodeBatch) and each
// sampleToken call from call to resolution. The rest of the step is JavaScript and thread hops.
// Usage: node dist/bench/profile-step.js <model.gguf> <sequences> [threads] [threadsBatch] [steps]

import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { binarySelectionOptions } from "../src/runtime/llama-backend.js";
import { StepThreads } from "./step-threads.js";

export interface StepProfile {
  readonly sequences: number;
  readonly buildType: string;
  readonly stepMs: number;
  readonly decodeMs: number;
  /** Sum of sampleToken durations per step (they run on the libuv pool, partly in parallel). */
  readonly sampleMsSum: number;
  /** From decodeBatch resolving to the last sampleToken resolving. */
  readonly sampleSpanMs: number;
  readonly otherMs: number;
}

type Native = Record<string | symbol, unknown>;

export async function profileSteps(modelPath: string, sequences: number, threads: number, threadsBatch: number, steps: number): Promise<StepProfile> {
  const mode = process.env.LOOM_NATIVE_BUILD === "never" ? "never" : "auto";
  const llama = await getLlama({ gpu: false, maxThreads: Math.max(threads, threadsBatch), logLevel: LlamaLogLevel.warn, ...binarySelectionOptions(mode) });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ sequences, contextSize: sequences * (160 + steps), threads: Math.max(threads, threadsBatch), batchSize: 512 });
  const threadRule = new StepThreads(context, threads, threadsBatch, () => {});
  const t = { decode: 0, sampleSum: 0, decodeEnd: 0, lastSampleEnd: 0 };
  const holder = context as unknown as { _ctx: Native };
  const inner = holder._ctx;
  holder._ctx = new Proxy(inner, {
    get(target, prop) {
      const value = target[prop];
      if (typeof value !== "function") return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === "decodeBatch") {
        return async (...args: unknown[]) => {
          const s = performance.now();
          const r = await fn.apply(target, args);
          t.decodeEnd = performance.now();
          t.decode += t.decodeEnd - s;
          return r;
        };
      }
      if (prop === "sampleToken") {
        return async (...args: unknown[]) => {
          const s = performance.now();
          const r = await fn.apply(target, args);
          const e = performance.now();
          t.sampleSum += e - s;
          t.lastSampleEnd = Math.max(t.lastSampleEnd, e);
          return r;
        };
      }
      return fn.bind(target);
    },
  });
  const seqs = Array.from({ length: sequences }, () => context.getSequence());
  const prompt = Array.from({ length: 128 }, (_, i) => (100 + ((i * 7919) % 30000)) as Token);
  const gens = seqs.map((s, k) => s.evaluate([...prompt, (200 + k) as Token], { temperature: 0, yieldEogToken: true }));
  threadRule.useFor(129 * sequences);
  await Promise.all(gens.map((g) => g.next()));
  threadRule.useFor(sequences);
  for (let i = 0; i < 8; i++) await Promise.all(gens.map((g) => g.next())); // warm-up
  const totals = { step: 0, decode: 0, sampleSum: 0, span: 0 };
  for (let i = 0; i < steps; i++) {
    t.decode = 0;
    t.sampleSum = 0;
    t.lastSampleEnd = 0;
    const s = performance.now();
    await Promise.all(gens.map((g) => g.next()));
    totals.step += performance.now() - s;
    totals.decode += t.decode;
    totals.sampleSum += t.sampleSum;
    totals.span += Math.max(0, t.lastSampleEnd - t.decodeEnd);
  }
  await Promise.all(gens.map((g) => g.return(undefined)));
  const buildType = llama.buildType;
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  const per = (x: number): number => x / steps;
  return {
    sequences,
    buildType,
    stepMs: per(totals.step),
    decodeMs: per(totals.decode),
    sampleMsSum: per(totals.sampleSum),
    sampleSpanMs: per(totals.span),
    otherMs: per(totals.step - totals.decode - totals.span),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [modelPath, seqs = "4", threads = "1", threadsBatch = "2", steps = "64"] = process.argv.slice(2);
  if (modelPath === undefined) throw new Error("usage: profile-step <model.gguf> <sequences> [threads] [threadsBatch] [steps]");
  const r = await profileSteps(modelPath, Number(seqs), Number(threads), Number(threadsBatch), Number(steps));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

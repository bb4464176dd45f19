// One engine beside its model: load the model (and its draft), run the engine loop, answer the server's messages,
// and stop cooperatively on shutdown (dispose llama.cpp, never exit mid-decode). The same unit runs alone in a worker
// thread (worker-entry.ts) or, one per engine of a model, in an engine process (engine-process-entry.ts); its host
// only carries the messages.

import { LoomError } from "../errors.js";
import { DecodeThreads } from "./decode-threads.js";
import { EngineLoop } from "./engine-loop.js";
import type { GenerateRequestFields } from "../request/generate-request.js";
import type { EngineWorkerData, FromWorker, ToWorker } from "./worker-messages.js";

/** How a unit talks to the server, whatever hosts it. */
export interface UnitPort {
  post(msg: FromWorker): void;
  onMessage(handler: (msg: ToWorker) => void): void;
}
import { defaultHostBase, openHostTierDir } from "./host-tier-dir.js";
import { loadLlamaBackend } from "../runtime/llama-backend.js";
import type { ModelBackend } from "../runtime/model-backend.js";
import { PromptBuilder } from "../runtime/prompt-builder.js";
import { TokenizerPool } from "../runtime/tokenizer-pool.js";
import { DraftModelProposer } from "./speculation/draft-model-proposer.js";
import { NgramProposer } from "./speculation/ngram-proposer.js";
import type { Proposer } from "./speculation/proposer.js";
import { Speculator } from "./speculation/speculator.js";
import { vocabularyMismatch } from "./speculation/vocab-check.js";

/**
 * Fault injection for the crash-recovery test, off unless LOOM_FAULT_INJECTION=exit-on-prompt:<marker> is set: a
 * prompt containing the marker makes this worker exit at once (before any decode, so the exit is clean for Node).
 */
function faultInjected(prompt: GenerateRequestFields["prompt"]): boolean {
  const spec = process.env.LOOM_FAULT_INJECTION;
  if (spec === undefined || !spec.startsWith("exit-on-prompt:")) return false;
  const marker = spec.slice("exit-on-prompt:".length);
  const text = prompt.kind === "chat" ? prompt.messages.map((m) => m.content).join("\n") : prompt.kind === "text" ? prompt.text : "";
  return marker.length > 0 && text.includes(marker);
}

/** As the engine loop's submit tokenizes (long texts off this thread): the tokenizer reads only the vocabulary. */
async function tokenize(prompts: PromptBuilder, backend: ModelBackend, msg: Extract<ToWorker, { type: "tokenize" }>): Promise<FromWorker> {
  try {
    const tokens = await prompts.tokenize(msg.request.input);
    const tokenStrs = msg.request.returnTokenStrs ? tokens.map((t, i) => backend.detokenize([t], true, tokens.slice(Math.max(0, i - 4), i))) : null;
    return { type: "tokenized", id: msg.id, result: { tokens, tokenStrs } };
  } catch (err) {
    return { type: "tokenize_failed", id: msg.id, error: LoomError.from(err).toData() };
  }
}

function tokenizeRefused(id: string): FromWorker {
  return { type: "tokenize_failed", id, error: { code: "unavailable", message: "The engine is shutting down.", param: null } };
}

/** llama.cpp architectures whose memory is recurrent (or hybrid): llama_memory_seq_rm cannot cut them mid-sequence. */
// From llm_arch_is_recurrent / llm_arch_is_hybrid of the llama.cpp node-llama-cpp 3.22.1 ships.
const RECURRENT_ARCHITECTURES = new Set([
  ...["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7", "jamba", "falcon-h1", "plamo2", "granitehybrid"],
  ...["lfm2", "lfm2moe", "nemotron_h", "nemotron_h_moe", "qwen3next", "kimi-linear", "bailingmoe3", "kimi-k3"],
  ...["qwen35", "qwen35moe", "qwen4exp", "deepseek4", "minimax-01"],
]);

/** The configured proposers, in order; a draft model is loaded beside the target (same slots and context size). */
async function loadSpeculator(data: EngineWorkerData, target: ModelBackend): Promise<Speculator> {
  const { types, nMax, nMin } = data.speculation;
  const proposers: Proposer[] = [];
  // Recurrent and hybrid models cannot drop part of a sequence's state: a rejected draft could not be taken back.
  if (types.length > 0 && RECURRENT_ARCHITECTURES.has(target.info.architecture)) {
    process.stderr.write(
      `[engine ${data.modelName}/${data.workerId}] warn: ${target.info.architecture} keeps recurrent state: speculative decoding is off for this model\n`,
    );
    return new Speculator([], { nMax, nMin });
  }
  for (const type of types) {
    if (type === "ngram") proposers.push(new NgramProposer());
    // A model no draft was given for (--spec-draft-model other=…) decodes without one.
    if (type !== "draft" || data.draftModelPath === null) continue;
    const draft = await loadLlamaBackend({ ...backendOptions(data, data.draftModelPath), kvProbeDir: null });
    const mismatch = vocabularyMismatch(target, draft);
    if (mismatch !== null) {
      await draft.dispose();
      throw new LoomError("invalid_request", `The draft model ${data.draftModelPath} cannot serve ${data.modelName}: ${mismatch}.`);
    }
    proposers.push(new DraftModelProposer(draft, target.info.vocabSize));
  }
  return new Speculator(proposers, { nMax, nMin });
}

/** How a model of this worker is loaded (the target, or its draft). */
function backendOptions(data: EngineWorkerData, modelPath: string): Omit<Parameters<typeof loadLlamaBackend>[0], "kvProbeDir"> {
  return {
    modelPath,
    slots: data.slots,
    slotContextSize: data.slotContextSize,
    ubatchSize: data.ubatchSize,
    flashAttn: data.flashAttn,
    threads: data.threads,
    threadsBatch: data.threadsBatch,
    gpu: data.gpu,
    gpuLayers: data.gpuLayers,
    nativeBuild: data.nativeBuild,
    log: (level, message) => {
      if (level === "error" || level === "warn") process.stderr.write(`[engine ${data.modelName}/${data.workerId}] ${level}: ${message.trim()}\n`);
    },
  };
}

/** Run one engine until it is shut down; a load failure is posted as "fatal" (and resolves: the host decides). */
export async function runEngineUnit(data: EngineWorkerData, port: UnitPort): Promise<"stopped" | "fatal"> {
  try {
    await serveUnit(data, port);
    return "stopped";
  } catch (err) {
    port.post({ type: "fatal", error: LoomError.from(err).toData() });
    return "fatal";
  }
}

async function serveUnit(data: EngineWorkerData, port: UnitPort): Promise<void> {
  const post = (msg: FromWorker): void => port.post(msg);
  const hostDir = data.kvHostBytes > 0 ? openHostTierDir(data.kvHostDir ?? defaultHostBase(), data.workerId, data.kvHostBytes) : null;
  const diskDir = hostDir !== null && data.kvDiskDir !== null ? openHostTierDir(data.kvDiskDir, data.workerId, data.kvDiskBytes) : null;
  const backend = await loadLlamaBackend({ ...backendOptions(data, data.modelPath), kvProbeDir: hostDir?.dir ?? null });
  const speculator = await loadSpeculator(data, backend);
  const tokenizer = new TokenizerPool({ modelPath: data.modelPath, nativeBuild: data.nativeBuild });
  const prompts = new PromptBuilder(backend, tokenizer);
  const loop = new EngineLoop(
    backend,
    {
      slots: data.slots,
      batchSize: data.batchSize,
      itlTargetMs: data.itlTargetMs,
      kvCopyMs: backend.info.kvCosts.copyMs,
      narrowPrefillPenaltyPerCell: backend.info.narrowPrefillPenaltyPerCell ?? 0,
      kvRestoreMsPerToken: backend.info.kvCosts.restoreMsPerToken,
      kvSaveMsPerToken: backend.info.kvCosts.saveMsPerToken,
      prefixCache: data.prefixCache,
      ...(hostDir === null || backend.info.kvCosts.bytesPerToken === 0
        ? {}
        : {
            hostTier: {
              dir: hostDir.dir,
              maxBytes: hostDir.maxBytes,
              bytesPerToken: backend.info.kvCosts.bytesPerToken,
              ...(diskDir === null ? {} : { disk: { dir: diskDir.dir, maxBytes: diskDir.maxBytes } }),
            },
          }),
    },
    {
      accepted: (id, promptTokens) => post({ type: "accepted", id, promptTokens }),
      rejected: (id, error) => post({ type: "rejected", id, error }),
      step: (events, stats) => post({ type: "step", events, stats }),
      log: (level, message) => process.stderr.write(`[engine ${data.modelName}/${data.workerId}] ${level}: ${message}\n`),
    },
    prompts,
    speculator,
    new DecodeThreads(data.threads, data.threadsBatch),
  );
  let disposed = false;
  port.onMessage((msg) => {
    switch (msg.type) {
      case "submit":
        if (faultInjected(msg.request.prompt)) process.exit(70);
        return loop.submit(msg.id, msg.request, msg.requestId);
      case "cancel":
        return loop.cancel(msg.id, msg.reason);
      case "tokenize":
        if (disposed) return post(tokenizeRefused(msg.id));
        return void tokenize(prompts, backend, msg).then(post);
      case "shutdown":
        return loop.shutdown();
      default:
        return assertNever(msg);
    }
  });
  post({ type: "ready", info: backend.info, stats: loop.stats() });
  await loop.run();
  disposed = true;
  await tokenizer.close();
  await speculator.dispose();
  await backend.dispose();
  hostDir?.remove();
  diskDir?.remove();
  post({ type: "stopped" });
}

function assertNever(msg: never): never {
  throw new Error(`unknown message to the engine worker: ${JSON.stringify(msg)}`);
}

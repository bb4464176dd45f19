// EngineLoop: the step loop of one engine worker, next to its model (as vLLM's EngineCore holds its scheduler).
// Each step: plan → backend.step (one llama_decode) → applyResult → process outputs → emit one message.
// Requests join (submit) and leave (cancel, finish) only between steps. Knows nothing of threads or transports:
// the worker entry passes `emit`, and a test can drive it directly.

import { LoomError, type ErrorData } from "../errors.js";
import { DEFAULT_CACHE_POLICY, type FinishReason, type GenerateRequestFields } from "../request/generate-request.js";
import type { ModelBackend } from "../runtime/model-backend.js";
import { PromptBuilder } from "../runtime/prompt-builder.js";
import { lazyCallsGrammar, outputGrammar, type LazyGrammar } from "../chat/output-grammar.js";
import { GrammarError } from "../grammar/grammar-error.js";
import { toolSyntaxOf, type ToolSyntax } from "../chat/tool-syntax.js";
import type { EngineStats, SequenceEvent } from "./worker-messages.js";
import { newOutputState, processToken, usageOf, type OutputState, type ProcessedOutput } from "./output-processor.js";
import { WorkerRequest, type CancelReason } from "./request.js";
import { Scheduler, type SchedulerOptions, type SequenceUpdate } from "./scheduler.js";
import { scopeOf, Sequence } from "./sequence.js";
import type { KvOp, SampledToken, StepPlan } from "../runtime/step-plan.js";
import { Speculator } from "./speculation/speculator.js";
import { nextGatherWaitMs } from "./arrival-gather.js";
import type { DecodeThreads } from "./decode-threads.js";
import { setTimeout as delay } from "node:timers/promises";

export interface EngineLoopSink {
  accepted(id: string, promptTokens: number): void;
  rejected(id: string, error: ErrorData): void;
  step(events: SequenceEvent[], stats: EngineStats): void;
  /** A line for the worker's log (failures only: the main thread logs every finished request). */
  log(level: "error" | "warn", message: string): void;
}

function cancelledError(reason: CancelReason): LoomError {
  if (reason === "deadline_exceeded") return new LoomError("deadline_exceeded", "The request's deadline passed.");
  return new LoomError("cancelled", "The request was cancelled.");
}

export class EngineLoop {
  private readonly scheduler: Scheduler;
  private readonly prompts: PromptBuilder;
  /** Every request this worker holds, from submit to finish: the one place its state lives. */
  private readonly requests = new Map<string, WorkerRequest>();
  private wake: (() => void) | null = null;
  /** Requests that reached this loop: what the gather after idle watches (arrival-gather.ts). */
  private arrivals = 0;
  private stopping = false;
  private lastStep = { ms: 0, tokens: 0, decode: 0, prefill: 0, copies: 0, restores: 0 };
  /** How this model writes tool calls (from its chat template): what the output grammar of a tool request follows. */
  private readonly toolSyntax: ToolSyntax;

  constructor(
    private readonly backend: ModelBackend,
    opts: SchedulerOptions,
    private readonly sink: EngineLoopSink,
    prompts?: PromptBuilder,
    /** Speculative decoding (--spec-type); absent: none. */
    private readonly speculator: Speculator = new Speculator([], { nMax: 1, nMin: 1 }),
    /** Picks the thread count of decode-only steps from their measured times; absent: always --threads-batch. */
    private readonly decodeThreads: DecodeThreads | null = null,
  ) {
    this.scheduler = new Scheduler(opts);
    this.toolSyntax = toolSyntaxOf(backend.info.chatTemplate);
    this.prompts = prompts ?? new PromptBuilder(backend);
  }

  /**
   * Tokenize (long prompts off this thread, so running streams keep stepping), check the context fits, and queue.
   * Rejections happen before a slot is taken; a request cancelled while it was being tokenized is rejected then.
   */
  submit(id: string, fields: GenerateRequestFields, requestId: string = id): void {
    if (this.stopping) return this.sink.rejected(id, { code: "unavailable", message: "The engine is shutting down.", param: null });
    const rec = new WorkerRequest(id, fields, requestId);
    this.requests.set(id, rec);
    this.arrivals++;
    this.prompts
      .build(fields.prompt, fields.output.tools)
      .then((prompt) => this.schedule(rec, prompt))
      .catch((err: unknown) => {
        this.requests.delete(id);
        this.sink.rejected(id, LoomError.from(err).toData());
      });
  }

  private schedule(rec: WorkerRequest, prompt: number[]): void {
    if (this.stopping) throw new LoomError("unavailable", "The engine is shutting down.");
    if (rec.cancel !== null) throw cancelledError(rec.cancel);
    const { sampling, stopping, logprobs, output } = rec.fields;
    const maxNew = this.checkFits(prompt.length, stopping.maxTokens);
    // Parsed (and cached) before the request is accepted: a grammar llama.cpp refuses is the client's 400.
    const { grammar, lazy } = this.grammarsFor(output, stopping.ignoreEos || stopping.minTokens > 0);
    if (grammar !== null) this.backend.prepareGrammar(grammar);
    if (lazy !== null) this.backend.prepareGrammar(lazy.grammar);
    const cache = rec.fields.cache ?? DEFAULT_CACHE_POLICY;
    rec.seq = new Sequence({
      id: rec.id,
      promptTokens: prompt,
      maxNewTokens: maxNew,
      arrivalStep: this.scheduler.step,
      cacheScope: scopeOf(cache.salt),
      reuseCache: cache.reuse,
      speculative: rec.fields.speculative,
    });
    rec.out = newOutputState(this.backend, rec.seq, sampling, stopping, logprobs, grammar, lazy);
    this.scheduler.submit(rec.seq);
    this.sink.accepted(rec.id, prompt.length);
    this.notify();
  }

  /**
   * The request's grammar from its first token, and the one tool_choice auto arms at a call marker, for this model's
   * tool syntax; what cannot be enforced is the client's 400.
   */
  private grammarsFor(output: GenerateRequestFields["output"], eogMasked: boolean): { grammar: string | null; lazy: LazyGrammar | null } {
    try {
      return { grammar: outputGrammar(output, this.toolSyntax), lazy: lazyCallsGrammar(output, this.toolSyntax, eogMasked) };
    } catch (err) {
      if (err instanceof GrammarError) throw new LoomError("invalid_request", `The output format cannot be enforced: ${err.message}.`, "tools");
      throw err;
    }
  }

  /** Takes effect at the next step boundary: never while the sequence's tokens are inside a decode. */
  cancel(id: string, reason: CancelReason): void {
    const rec = this.requests.get(id);
    if (rec === undefined || rec.cancel !== null) return;
    rec.cancel = reason;
    this.notify();
  }

  /** Prompts still being tokenized (they hold no slot yet). */
  get tokenizingCount(): number {
    let n = 0;
    for (const rec of this.requests.values()) if (rec.seq === null) n++;
    return n;
  }

  /** Cancel everything and let run() return once the step in flight is done. */
  shutdown(): void {
    this.stopping = true;
    for (const rec of this.requests.values()) rec.cancel ??= "cancelled";
    this.notify();
  }

  stats(): EngineStats {
    const info = this.backend.info;
    return {
      steps: this.scheduler.step,
      slots: info.slots,
      slotsBusy: this.scheduler.slots.busy,
      running: this.scheduler.runningCount,
      waiting: this.scheduler.waitingCount,
      kvCellsUsed: this.backend.kvCellsUsed(),
      kvCellsTotal: info.slots * info.slotContextSize,
      lastStepMs: this.lastStep.ms,
      lastBatchTokens: this.lastStep.tokens,
      lastDecodeTokens: this.lastStep.decode,
      lastPrefillTokens: this.lastStep.prefill,
      lastKvCopies: this.lastStep.copies,
      lastKvRestores: this.lastStep.restores,
      hostTier: this.scheduler.slots.host?.stats() ?? { entries: 0, bytes: 0, evictions: 0, diskEntries: 0, diskBytes: 0 },
      prefillChunk: this.scheduler.prefillChunk,
      speculation: this.speculator.stats(),
    };
  }

  async run(): Promise<void> {
    for (;;) {
      const cancelled = this.applyCancels();
      if (cancelled.length > 0) this.sink.step(cancelled, this.stats());
      if (this.stopping && !this.scheduler.hasWork) return;
      if (!this.scheduler.hasWork) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        await this.gatherArrivals();
        continue;
      }
      await this.speculate();
      await this.runStep(this.withThreads(this.scheduler.planStep()));
    }
  }

  /** After idle: wait while more requests arrive, within the bound arrival-gather.ts sets. */
  private async gatherArrivals(): Promise<void> {
    const woke = performance.now();
    let seen = -1;
    for (;;) {
      const arrived = this.arrivals !== seen || this.tokenizingCount > 0;
      const wait = this.stopping ? 0 : nextGatherWaitMs({ waitedMs: performance.now() - woke, arrived, queuedPrefillMs: this.queuedPrefillMs() });
      if (wait === 0) return;
      seen = this.arrivals;
      await delay(wait);
    }
  }

  private queuedPrefillMs(): number | null {
    const perToken = this.scheduler.budget.prefillTokenMs();
    if (perToken === null) return null;
    let tokens = 0;
    for (const rec of this.requests.values()) if (rec.seq?.status === "waiting") tokens += rec.seq.remainingPrompt;
    return tokens * perToken;
  }

  /** Drafts for the sequences that will decode next step; a proposer that fails only costs the speculation. */
  private async speculate(): Promise<void> {
    if (!this.speculator.enabled) return;
    const eligible = (seq: Sequence): boolean => {
      const rec = this.requests.get(seq.id);
      return rec?.cancel === null && seq.speculation !== "off" && seq.outputTokens.length >= rec.fields.stopping.minTokens;
    };
    try {
      await this.speculator.propose(this.scheduler.decoding(), eligible, { decodeMs: (n) => this.scheduler.decodeStepMs(n) });
    } catch (err) {
      for (const seq of this.scheduler.decoding()) seq.drafts = [];
      this.sink.log("warn", `speculation failed, decoding without it this step: ${LoomError.from(err).message}`);
    }
  }

  /** A decode-only step gets the thread count decode-threads.ts measures faster at its size. */
  private withThreads(plan: StepPlan): StepPlan {
    if (this.decodeThreads === null || !decodeOnly(plan)) return plan;
    return { ...plan, threads: this.decodeThreads.pick(plan.decodeTokens) };
  }

  private async runStep(plan: StepPlan): Promise<void> {
    const t0 = performance.now();
    for (const e of plan.entries) {
      const rec = this.requests.get(e.seqId);
      if (rec !== undefined) rec.admittedAt ??= t0;
    }
    let events: SequenceEvent[];
    try {
      const result = await this.backend.step(plan, (id) => (this.requests.get(id)?.out as OutputState).sampling);
      const updates = this.scheduler.applyResult(plan, result);
      for (const u of updates) if (u.verified !== undefined) this.speculator.verified(u.seq, u.verified.drafted, u.verified.accepted);
      events = this.processOutputs(updates, result.sampled);
    } catch (err) {
      events = this.failStep(plan, LoomError.from(err));
    }
    const ms = performance.now() - t0;
    this.scheduler.observeStep(plan, ms);
    // withThreads set `threads` only on the steps the choice compares.
    if (plan.threads !== undefined) this.decodeThreads?.observe(plan.decodeTokens, plan.threads, ms);
    const count = (kind: KvOp["kind"]): number => plan.kvOps.filter((op) => op.kind === kind).length;
    const tokens = plan.decodeTokens + plan.prefillTokens;
    this.lastStep = { ms, tokens, decode: plan.decodeTokens, prefill: plan.prefillTokens, copies: count("copy"), restores: count("restore") };
    this.sink.step(events, this.stats());
  }

  /** The one loop over a step's outputs: detokenize, stop checks, finish, and build the step's events. */
  private processOutputs(updates: readonly SequenceUpdate[], sampled: ReadonlyMap<string, readonly SampledToken[]>): SequenceEvent[] {
    const events: SequenceEvent[] = [];
    for (const update of updates) {
      const rec = this.requests.get(update.seq.id);
      if (rec?.out == null) continue;
      if (update.firstToken) rec.firstTokenAt = performance.now();
      const out = this.processTokens(rec.out, update, sampled.get(rec.id) ?? []);
      if (out.finish === null) {
        events.push(out.event);
        continue;
      }
      events.push(out.event.finish ? { ...out.event, finish: { ...out.event.finish, timings: rec.timings(), ...specOf(update.seq) } } : out.event);
      this.finish(rec, out.finish);
    }
    return events;
  }

  /** A step's tokens of one sequence (several after a verified decode), in order, as one event; a finish ends it. */
  private processTokens(st: OutputState, update: SequenceUpdate, samples: readonly SampledToken[]): ProcessedOutput {
    const first = update.seq.outputTokens.length - update.tokens.length;
    if (update.tokens.length === 1) return processToken(this.backend, st, update, samples.at(-1));
    let merged: ProcessedOutput | null = null;
    for (let i = 0; i < update.tokens.length; i++) {
      const token = update.tokens[i] as number;
      const out = processToken(this.backend, st, { seq: update.seq, token, firstToken: false, outputCount: first + i + 1 }, samples[i]);
      merged = merged === null ? out : mergeOutputs(merged, out);
      if (out.finish !== null) break;
    }
    return merged as ProcessedOutput;
  }

  /** Cancels that arrived since the last step, applied at this boundary. */
  private applyCancels(): SequenceEvent[] {
    const events: SequenceEvent[] = [];
    for (const rec of [...this.requests.values()]) {
      if (rec.cancel === null || rec.seq === null) continue;
      const timings = rec.timings();
      const seq = this.finish(rec, "cancelled");
      const error: ErrorData | undefined = rec.cancel === "deadline_exceeded" ? cancelledError(rec.cancel).toData() : undefined;
      events.push({ id: rec.id, text: "", tokenIds: [], finish: { reason: "cancelled", usage: usageOf(seq), ...(error ? { error } : {}), timings } });
    }
    return events;
  }

  /**
   * A failed step fails only the sequences in it (those it decoded, and those whose slot its KV operations touched);
   * the engine keeps serving everyone else.
   */
  private failStep(plan: StepPlan, err: LoomError): SequenceEvent[] {
    const error: ErrorData = { code: "engine_failure", message: `Engine step failed: ${err.message}`, param: null };
    const opSlots = plan.kvOps.flatMap((op) => (op.kind === "copy" ? [op.toSlot] : op.kind === "drop" || op.kind === "move" ? [] : [op.slot]));
    const owners = opSlots.map((slot) => this.scheduler.slots.ownerOf(slot)).filter((id): id is string => id !== null);
    const seqIds = [...new Set([...plan.entries.map((e) => e.seqId), ...owners])];
    const ids = seqIds.map((id) => this.requests.get(id)?.requestId ?? id);
    this.sink.log("error", `step ${plan.step} failed (requests ${ids.join(", ")}): ${err.message}`);
    const events: SequenceEvent[] = [];
    for (const seqId of seqIds) {
      const rec = this.requests.get(seqId);
      if (rec?.seq == null) continue;
      const seq = this.finish(rec, "error");
      events.push({ id: seq.id, text: "", tokenIds: [], finish: { reason: "error", usage: usageOf(seq), error } });
    }
    this.scheduler.stepFailed(plan);
    return events;
  }

  /** The request leaves the loop: its slot is released (KV kept for reuse) and its native sampler freed. */
  private finish(rec: WorkerRequest, reason: FinishReason): Sequence {
    this.requests.delete(rec.id);
    if (rec.out !== null) this.backend.releaseSampling(rec.out.sampling);
    if (rec.seq !== null) this.speculator.forget(rec.seq);
    this.scheduler.finish(rec.id, reason);
    return rec.seq as Sequence;
  }

  private checkFits(promptTokens: number, maxTokens: number | null): number {
    const ctx = this.backend.info.slotContextSize;
    const need = promptTokens + (maxTokens ?? 1);
    if (promptTokens === 0) throw new LoomError("invalid_request", "The prompt is empty.", "prompt");
    if (need > ctx) {
      throw new LoomError(
        "context_length_exceeded",
        `This model's maximum context length is ${ctx} tokens per request. However, you requested ${need} tokens ` +
          `(${promptTokens} in the prompt, ${maxTokens ?? 1} for the completion). Please reduce the prompt or max_tokens.`,
        maxTokens === null || promptTokens >= ctx ? "messages" : "max_tokens",
      );
    }
    return maxTokens ?? ctx - promptTokens;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/**
 * A step of single-token decodes only (no prompt tokens, drafts or KV operations): what the thread choice compares.
 * Verify steps keep --threads-batch: the speculation policy prices them from step costs measured on those threads.
 */
function decodeOnly(plan: StepPlan): boolean {
  return plan.prefillTokens === 0 && plan.kvOps.length === 0 && plan.entries.length > 1 && plan.entries.every((e) => e.tokens.length === 1);
}

/** Two consecutive outputs of one sequence as one event: texts, ids and logprobs joined; the later one's finish. */
function mergeOutputs(a: ProcessedOutput, b: ProcessedOutput): ProcessedOutput {
  const logprobs = a.event.logprobs || b.event.logprobs ? [...(a.event.logprobs ?? []), ...(b.event.logprobs ?? [])] : undefined;
  return {
    event: { ...b.event, text: a.event.text + b.event.text, tokenIds: [...a.event.tokenIds, ...b.event.tokenIds], ...(logprobs ? { logprobs } : {}) },
    finish: b.finish,
  };
}

/** What speculation did for a finished request (for its log line); nothing when it drafted nothing. */
function specOf(seq: Sequence): { speculation?: { drafted: number; accepted: number } } {
  return seq.drafted === 0 ? {} : { speculation: { drafted: seq.drafted, accepted: seq.accepted } };
}

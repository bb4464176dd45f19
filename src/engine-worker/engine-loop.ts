// EngineLoop: the step loop of one engine worker, next to its model (as vLLM's EngineCore holds its scheduler).
// Each step: plan → backend.step (one llama_decode) → applyResult → process outputs → emit one message.
// Requests join (submit) and leave (cancel, finish) only between steps. Knows nothing of threads or transports:
// the worker entry passes `emit`, and a test can drive it directly.

import { LoomError, type ErrorData } from "../errors.js";
import type { GenerateRequestFields } from "../request/generate-request.js";
import type { ModelBackend } from "../runtime/model-backend.js";
import { PromptBuilder } from "../runtime/prompt-builder.js";
import type { EngineStats, EngineTimings, SequenceEvent } from "./worker-messages.js";
import { newOutputState, processToken, usageOf, type OutputState } from "./output-processor.js";
import { Scheduler, type SchedulerOptions, type SequenceUpdate } from "./scheduler.js";
import { Sequence } from "./sequence.js";
import type { SampledToken, StepPlan } from "../runtime/step-plan.js";

export interface EngineLoopSink {
  accepted(id: string, promptTokens: number): void;
  rejected(id: string, error: ErrorData): void;
  step(events: SequenceEvent[], stats: EngineStats): void;
}

type CancelReason = "cancelled" | "deadline_exceeded";

function cancelledError(reason: CancelReason): LoomError {
  if (reason === "deadline_exceeded") return new LoomError("deadline_exceeded", "The request's deadline passed.");
  return new LoomError("cancelled", "The request was cancelled.");
}

export class EngineLoop {
  private readonly scheduler: Scheduler;
  private readonly prompts: PromptBuilder;
  private readonly outputs = new Map<string, OutputState>();
  private readonly cancels = new Map<string, CancelReason>();
  /** Requests whose prompt is being tokenized → why they were cancelled meanwhile (null: not cancelled). */
  private readonly tokenizing = new Map<string, CancelReason | null>();
  /** Phase timestamps per sequence (performance.now in this worker): arrival, slot, first token. */
  private readonly clock = new Map<string, { arrived: number; admitted: number | null; firstToken: number | null }>();
  private wake: (() => void) | null = null;
  private stopping = false;
  private lastStep = { ms: 0, tokens: 0, decode: 0, prefill: 0 };

  constructor(
    private readonly backend: ModelBackend,
    opts: SchedulerOptions,
    private readonly sink: EngineLoopSink,
    prompts?: PromptBuilder,
  ) {
    this.scheduler = new Scheduler(opts);
    this.prompts = prompts ?? new PromptBuilder(backend);
  }

  /**
   * Tokenize (long prompts off this thread, so running streams keep stepping), check the context fits, and queue.
   * Rejections happen before a slot is taken; a request cancelled while it was being tokenized is rejected then.
   */
  submit(id: string, req: GenerateRequestFields): void {
    if (this.stopping) return this.sink.rejected(id, { code: "unavailable", message: "The engine is shutting down.", param: null });
    this.tokenizing.set(id, null);
    this.prompts
      .build(req.prompt)
      .then((prompt) => this.admit(id, req, prompt))
      .catch((err: unknown) => this.sink.rejected(id, LoomError.from(err).toData()))
      .finally(() => this.tokenizing.delete(id));
  }

  private admit(id: string, req: GenerateRequestFields, prompt: number[]): void {
    const cancelled = this.tokenizing.get(id) ?? null;
    if (cancelled !== null) throw cancelledError(cancelled);
    if (this.stopping) throw new LoomError("unavailable", "The engine is shutting down.");
    const maxNew = this.checkFits(prompt.length, req.stopping.maxTokens);
    const seq = new Sequence({ id, promptTokens: prompt, maxNewTokens: maxNew, arrivalStep: this.scheduler.step });
    this.outputs.set(id, newOutputState(this.backend, req.sampling, req.stopping, req.logprobs));
    this.scheduler.submit(seq);
    this.clock.set(id, { arrived: performance.now(), admitted: null, firstToken: null });
    this.sink.accepted(id, prompt.length);
    this.notify();
  }

  /** Takes effect at the next step boundary: never while the sequence's tokens are inside a decode. */
  cancel(id: string, reason: CancelReason): void {
    if (this.tokenizing.has(id)) return void this.tokenizing.set(id, reason);
    this.cancels.set(id, reason);
    this.notify();
  }

  /** Prompts still being tokenized (they hold no slot yet). */
  get tokenizingCount(): number {
    return this.tokenizing.size;
  }

  /** Cancel everything and let run() return once the step in flight is done. */
  shutdown(): void {
    this.stopping = true;
    for (const id of this.outputs.keys()) this.cancels.set(id, "cancelled");
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
      prefillChunk: this.scheduler.prefillChunk,
    };
  }

  async run(): Promise<void> {
    for (;;) {
      const cancelled = this.applyCancels();
      if (cancelled.length > 0) this.sink.step(cancelled, this.stats());
      if (this.stopping && !this.scheduler.hasWork) return;
      if (!this.scheduler.hasWork) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await this.runStep(this.scheduler.planStep());
    }
  }

  private async runStep(plan: StepPlan): Promise<void> {
    const t0 = performance.now();
    for (const e of plan.entries) {
      const c = this.clock.get(e.seqId);
      if (c !== undefined && c.admitted === null) c.admitted = t0;
    }
    let events: SequenceEvent[];
    try {
      const result = await this.backend.step(plan, (id) => (this.outputs.get(id) as OutputState).sampling);
      events = this.processOutputs(this.scheduler.applyResult(plan, result), result.sampled);
    } catch (err) {
      events = this.failStep(plan, LoomError.from(err));
    }
    const ms = performance.now() - t0;
    this.scheduler.observeStep(plan, ms);
    this.lastStep = { ms, tokens: plan.decodeTokens + plan.prefillTokens, decode: plan.decodeTokens, prefill: plan.prefillTokens };
    this.sink.step(events, this.stats());
  }

  /** The one loop over a step's outputs: detokenize, stop checks, finish, and build the step's events. */
  private processOutputs(updates: readonly SequenceUpdate[], sampled: ReadonlyMap<string, readonly SampledToken[]>): SequenceEvent[] {
    const events: SequenceEvent[] = [];
    for (const update of updates) {
      const st = this.outputs.get(update.seq.id);
      if (st === undefined) continue;
      if (update.firstToken) this.stampFirstToken(update.seq.id);
      const out = processToken(this.backend, st, update, sampled.get(update.seq.id)?.at(-1));
      if (out.finish === null) {
        events.push(out.event);
        continue;
      }
      const timings = this.timingsOf(update.seq.id);
      events.push(out.event.finish && timings ? { ...out.event, finish: { ...out.event.finish, timings } } : out.event);
      this.finish(update.seq.id, out.finish);
    }
    return events;
  }

  private applyCancels(): SequenceEvent[] {
    const events: SequenceEvent[] = [];
    for (const [id, reason] of this.cancels) {
      const timings = this.timingsOf(id);
      const seq = this.finish(id, "cancelled");
      if (seq === undefined) continue;
      const error: ErrorData | undefined = reason === "deadline_exceeded" ? cancelledError(reason).toData() : undefined;
      events.push({
        id,
        text: "",
        tokenIds: [],
        finish: { reason: "cancelled", usage: usageOf(seq), ...(error ? { error } : {}), ...(timings ? { timings } : {}) },
      });
    }
    this.cancels.clear();
    return events;
  }

  /** A failed decode fails only the sequences in it; the engine keeps serving everyone else. */
  private failStep(plan: StepPlan, err: LoomError): SequenceEvent[] {
    const error: ErrorData = { code: "engine_failure", message: `Engine step failed: ${err.message}`, param: null };
    const events: SequenceEvent[] = [];
    for (const entry of plan.entries) {
      const seq = this.finish(entry.seqId, "error");
      if (seq !== undefined) events.push({ id: seq.id, text: "", tokenIds: [], finish: { reason: "error", usage: usageOf(seq), error } });
    }
    return events;
  }

  private stampFirstToken(id: string): void {
    const c = this.clock.get(id);
    if (c !== undefined) c.firstToken = performance.now();
  }

  /** Queue, prefill and decode durations of a sequence that is finishing now. */
  private timingsOf(id: string): EngineTimings | undefined {
    const c = this.clock.get(id);
    if (c === undefined) return undefined;
    const now = performance.now();
    const admitted = c.admitted ?? now;
    const first = c.firstToken ?? now;
    return { queueMs: admitted - c.arrived, prefillMs: Math.max(0, first - admitted), decodeMs: Math.max(0, now - first) };
  }

  private finish(id: string, reason: Parameters<Scheduler["finish"]>[1]): Sequence | undefined {
    const st = this.outputs.get(id);
    this.outputs.delete(id);
    this.clock.delete(id);
    if (st !== undefined) this.backend.releaseSampling(st.sampling);
    return this.scheduler.finish(id, reason);
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

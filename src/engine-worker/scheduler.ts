// Scheduler: the pure step planner of one engine worker (no I/O, no clock, no model).
// Contract, called once per step by the engine loop: planStep() decides how many tokens each sequence advances in
// the next llama_decode; applyResult() records what the step computed and sampled. Between steps, submit() and
// finish() let requests join and leave: that is continuous batching.
//
// One counting rule (after vLLM): a sequence feeds tokens[computed .. total) into its slot. A decoding sequence has
// exactly one such token (its last sample); a prefilling one has its remaining prompt, which is fed in chunks.
//
// A step's budget is --batch-size tokens. Decodes go first (every running stream advances every step); prompt
// chunks fill the rest, shortest remaining prompt first (with aging), sized while streams decode so the step meets
// the latency target (prefill-budget.ts). When nothing decodes, prefill takes the whole batch, and prompts of
// similar length that arrived together start decoding together (a cohort): a prompt that started early would
// stream into steps of a whole batch of other prompts, one stalled token per step, or slow the rest of the cohort
// to the latency target. So a prompt that finishes while the rest of its cohort prefills sends its first token and
// then waits to decode until the cohort's last prompt is done; every token still comes no later than if it had
// waited for the cohort to send its first. A short prompt never waits behind a long one (HOLD_RATIO), and nothing
// waits while streams decode. Simultaneous clients reach the worker ms apart: the loop gathers them after idle
// (arrival-gather.ts), and a prompt finished in the first step after idle still waits: what arrives while that
// step runs joins its cohort (a lone prompt decodes at the next step, as it would have).

import type { FinishReason } from "../request/generate-request.js";
import { InvariantError, Sequence } from "./sequence.js";
import { SlotTable, type SlotAssignment } from "./slot-table.js";
import { HostTier, type HostTierOptions } from "./host-tier.js";
import { allocate } from "./prefill-allocation.js";
import { PrefillBudget } from "./prefill-budget.js";
import { kvCostTokens } from "./kv-cost-tokens.js";
import { relocateStream, saveOps } from "./slot-relocation.js";
import type { KvOp, SampledToken, StepEntry, StepPlan, StepResult } from "../runtime/step-plan.js";

/** A finished prompt waits for the rest of its cohort only behind prompts at most this many times its length. */
export const HOLD_RATIO = 2;

export interface SchedulerOptions {
  readonly slots: number;
  /** Most tokens one step evaluates (decodes plus prefill). */
  readonly batchSize: number;
  /** While streams decode, a step that also prefills aims to take at most this many ms; 0 = no target. */
  readonly itlTargetMs: number;
  /**
   * Steps of waiting that count as one token less of remaining prompt when ordering prefills (shortest first).
   * Short prompts jump ahead of long ones; aging stops a stream of short prompts from starving a long one.
   */
  readonly agingStepsPerToken?: number;
  /** What copying one slot's KV into another costs (ms; measured by the backend at start-up). */
  readonly kvCopyMs?: number;
  /** The backend's cost of prompt chunks too narrow for its attention tiles (narrow-prefill.ts); 0 or absent: none. */
  readonly narrowPrefillPenaltyPerCell?: number;
  /** False (--no-prefix-cache): no prompt reuses cached KV. Default true. */
  readonly prefixCache?: boolean;
  /** Where prefixes evicted from slots are kept (--kv-host-bytes); absent: they are lost. */
  readonly hostTier?: HostTierOptions;
  /** What restoring one token's KV from the host tier costs (ms; measured at load). */
  readonly kvRestoreMsPerToken?: number;
  /** What saving one token's KV to the host tier costs (ms; measured at load). */
  readonly kvSaveMsPerToken?: number;
}

/** What applyResult reports for each sequence that produced tokens this step. */
export interface SequenceUpdate {
  readonly seq: Sequence;
  /** The last token appended this step. */
  readonly token: number;
  /** Every token appended this step, in order: [token], or a verified step's accepted drafts and its own token. */
  readonly tokens: readonly number[];
  readonly firstToken: boolean;
  /** A verified step: how many drafts it carried and how many were accepted. */
  readonly verified?: { readonly drafted: number; readonly accepted: number };
}

export class Scheduler {
  readonly slots: SlotTable;
  private readonly waiting: Sequence[] = [];
  private readonly running = new Map<string, Sequence>();
  private stepCounter = 0;
  /** The measured step costs prefill is paced by (also read by the loop's gather after idle). */
  readonly budget: PrefillBudget;

  constructor(private readonly opts: SchedulerOptions) {
    if (opts.batchSize < opts.slots) throw new InvariantError("batchSize must be >= slots");
    this.slots = new SlotTable(opts.slots, opts.hostTier === undefined ? null : new HostTier(opts.hostTier));
    this.budget = new PrefillBudget({ batchSize: opts.batchSize, itlTargetMs: opts.itlTargetMs });
  }

  /** The current steered prefill chunk (for stats). */
  get prefillChunk(): number {
    let decoding = 0;
    for (const s of this.running.values()) if (streams(s)) decoding++;
    return this.budget.steered(Math.max(1, decoding));
  }

  /** Feed back how long a planned step took (wall ms, measured by the engine loop). */
  observeStep(plan: StepPlan, ms: number): void {
    this.budget.observe(plan.decodeTokens, plan.prefillTokens, ms);
  }

  /** The sequences that decode in the next step (they may get drafts). */
  decoding(): Sequence[] {
    const waits = this.cohortWait();
    return [...this.running.values()].filter((s) => s.status === "decoding" && s.slot !== null && !waits(s));
  }

  /**
   * Measured duration of a decode-only step of n tokens (ms), interpolated; null before any was measured. Beyond the
   * largest step measured, each token costs at most what a prompt token costs (measured in whole-prompt steps): the
   * per-token cost of small steps overstates large ones, whose matrix kernels run at prefill efficiency.
   */
  decodeStepMs(n: number): number | null {
    const largest = this.budget.largestDecodeMeasured();
    const perToken = this.budget.prefillTokenMs();
    if (largest === null || n <= largest || perToken === null) return this.budget.aloneMs(n);
    const atLargest = this.budget.aloneMs(largest) as number;
    return Math.min(this.budget.aloneMs(n) as number, atLargest + (n - largest) * perToken);
  }

  get step(): number {
    return this.stepCounter;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.size > 0;
  }

  submit(seq: Sequence): void {
    if (seq.status !== "waiting") throw new InvariantError(`submit of ${seq.id} in state ${seq.status}`);
    this.waiting.push(seq);
  }

  get(seqId: string): Sequence | undefined {
    return this.running.get(seqId) ?? this.waiting.find((s) => s.id === seqId);
  }

  /** Remove a sequence between steps and release its slot. Returns the sequence, or undefined if unknown. */
  finish(seqId: string, reason: FinishReason): Sequence | undefined {
    const seq = this.running.get(seqId);
    if (seq !== undefined) {
      this.running.delete(seqId);
      seq.finish(reason);
      if (seq.slot !== null) this.releaseSlot(seq);
      return seq;
    }
    const i = this.waiting.findIndex((s) => s.id === seqId);
    if (i < 0) return undefined;
    const [waiting] = this.waiting.splice(i, 1);
    waiting?.finish(reason);
    return waiting;
  }

  /** Plan the next step: one decode token per running sequence, then admissions, then budgeted prefill chunks. */
  planStep(): StepPlan {
    this.stepCounter++;
    const entries: StepEntry[] = [];
    const kvOps: KvOp[] = [];
    const idleStart = this.running.size === 0;
    // Admitted first: a prompt that joins now is part of the cohort a finished prompt waits for.
    this.admit(kvOps);
    this.releaseCohortHolds();
    kvOps.push(...this.relocate());
    const decodeTokens = this.planDecodes(entries);
    const prefilling = [...this.running.values()].filter((s) => s.status === "prefilling");
    // Prompts get the chunk they would get without drafts: a verify step's drafts would otherwise take the latency
    // target's time from them (8 streams verifying 23 drafts each took 150 of its 250 ms, and new prompts crept in
    // 16 tokens a step). Speculating streams receive several tokens per step, so the longer step costs them nothing.
    const budget = Math.min(this.budget.budget(entries.length), this.opts.batchSize - decodeTokens);
    const prefillTokens = this.planPrefills(entries, prefilling, budget, decodeTokens === 0, idleStart);
    return { step: this.stepCounter, kvOps, entries, decodeTokens, prefillTokens };
  }

  /** Record a step's outcome: advance computed counts, append sampled tokens, move finished prefills to decoding. */
  applyResult(plan: StepPlan, result: StepResult): SequenceUpdate[] {
    for (const op of plan.kvOps) {
      if (op.kind === "save") this.slots.host?.confirm(op.path, result.saved?.get(op.path));
      if (op.kind === "move") this.slots.host?.confirm(op.to, result.saved?.get(op.to));
    }
    const updates: SequenceUpdate[] = [];
    for (const entry of plan.entries) {
      const seq = this.running.get(entry.seqId);
      if (seq === undefined) continue; // finished (cancelled) while the step ran
      if (entry.verify === true) {
        updates.push(this.applyVerified(plan, entry, seq, result.sampled.get(entry.seqId) ?? []));
        continue;
      }
      seq.computed = entry.start + entry.tokens.length;
      if (seq.status === "prefilling") this.recordPrefill(seq);
      if (entry.sampleAt.length === 0) continue;
      const samples = result.sampled.get(entry.seqId);
      if (samples?.length !== entry.sampleAt.length)
        throw new InvariantError(`step ${plan.step}: ${samples?.length ?? 0} samples for ${entry.seqId}, planned ${entry.sampleAt.length}`);
      const sampled = samples[samples.length - 1] as SampledToken;
      const firstToken = seq.status === "prefilling";
      seq.appendOutput(sampled.token);
      if (firstToken) seq.transition("decoding");
      updates.push({ seq, token: sampled.token, tokens: [sampled.token], firstToken });
    }
    return updates;
  }

  /**
   * A verified decode: the slot holds its last token and the accepted drafts (each equal to the sample before it);
   * every sample is output.
   */
  private applyVerified(plan: StepPlan, entry: StepEntry, seq: Sequence, samples: readonly SampledToken[]): SequenceUpdate {
    if (samples.length === 0 || samples.length > entry.tokens.length)
      throw new InvariantError(`step ${plan.step}: ${samples.length} samples for ${entry.seqId}, verifying ${entry.tokens.length} tokens`);
    seq.computed = entry.start + samples.length;
    const verified = { drafted: entry.tokens.length - 1, accepted: samples.length - 1 };
    seq.drafted += verified.drafted;
    seq.accepted += verified.accepted;
    const tokens = samples.map((t) => t.token);
    for (const t of tokens) seq.appendOutput(t);
    return { seq, token: tokens[tokens.length - 1] as number, tokens, firstToken: false, verified };
  }

  /**
   * The step failed (its sequences were finished): the KV of every slot it touched is unknown now, and the host-tier
   * files it was writing do not count.
   */
  stepFailed(plan: StepPlan): void {
    const slots = new Set(plan.entries.map((e) => e.slot));
    for (const op of plan.kvOps) {
      if (op.kind === "save") this.slots.host?.confirm(op.path, undefined);
      if (op.kind === "move") this.slots.host?.confirm(op.to, undefined);
      if (op.kind === "copy") slots.add(op.toSlot);
      else if (op.kind !== "drop" && op.kind !== "move") slots.add(op.slot);
    }
    for (const slot of slots) this.slots.forget(slot);
  }

  /**
   * One token per decoding sequence, plus the drafts proposed for it (verified in the same decode) as far as the
   * batch, its output cap and its context allow. Drafts are used once: the next step has new ones or none.
   */
  private planDecodes(entries: StepEntry[]): number {
    let n = 0;
    let decoders = 0;
    let prompts = this.waiting.length;
    for (const seq of this.running.values()) {
      if (streams(seq)) decoders++;
      if (seq.status === "prefilling") prompts++;
    }
    // Drafts never take the room prompts would get without them: speculation must not starve prefill.
    let room = this.opts.batchSize - decoders - (prompts > 0 ? this.budget.steered(Math.max(1, decoders)) : 0);
    for (const seq of this.running.values()) {
      if (!streams(seq)) continue;
      const left = seq.maxNewTokens - seq.outputTokens.length - 1;
      const drafts = seq.drafts.slice(0, Math.max(0, Math.min(left, room)));
      seq.drafts = [];
      room -= drafts.length;
      const entry = entryFor(seq, seq.computed, seq.totalTokens - seq.computed, true);
      const tokens = [...entry.tokens, ...drafts];
      entries.push(drafts.length === 0 ? entry : { ...entry, tokens, sampleAt: tokens.map((_, i) => i), verify: true });
      n += tokens.length;
    }
    return n;
  }

  /** A decoding stream moves next to the others when that saves forward passes (slot-relocation.ts). */
  private relocate(): KvOp[] {
    const bySlot = new Map<number, Sequence>();
    for (const seq of this.running.values()) if (streams(seq)) bySlot.set(seq.slot as number, seq);
    const { saveCostTokens } = kvCostTokens(this.budget.prefillTokenMs(), { saveMsPerToken: this.opts.kvSaveMsPerToken });
    const costs = { passMs: this.decodeStepMs(1), copyMs: this.opts.kvCopyMs ?? 0, saveMsPerToken: this.opts.kvSaveMsPerToken, saveCostTokens };
    return relocateStream(this.slots, bySlot, costs);
  }

  /**
   * Give waiting sequences free slots, in arrival order. A slot's KV beyond the reused prefix is erased before this
   * step; a prefix copied from another slot is copied first. A prompt that should wait for a sharing prompt's
   * prefill stays queued while later ones are admitted.
   */
  private admit(kvOps: KvOp[]): void {
    const costs = kvCostTokens(this.budget.prefillTokenMs(), {
      copyMs: this.opts.kvCopyMs,
      restoreMsPerToken: this.opts.kvRestoreMsPerToken,
      saveMsPerToken: this.opts.kvSaveMsPerToken,
    });
    for (let i = 0; i < this.waiting.length && this.slots.free > 0;) {
      const seq = this.waiting[i] as Sequence;
      const got = this.slots.acquire(seq.id, {
        scope: seq.cacheScope,
        prompt: seq.promptTokens,
        reuse: seq.reuseCache && this.opts.prefixCache !== false,
        ...costs,
        narrowPrefillPenaltyPerCell: this.opts.narrowPrefillPenaltyPerCell ?? 0,
      });
      if (got === null) throw new InvariantError("free slot vanished");
      if (got === "wait") {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      seq.slot = got.slot;
      kvOps.push(...admissionOps(got));
      if (got.eraseTail) kvOps.push({ kind: "erase", slot: got.slot, from: got.reusedTokens, to: null });
      seq.computed = got.reusedTokens;
      seq.cachedTokens = got.reusedTokens;
      seq.transition("prefilling");
      this.running.set(seq.id, seq);
    }
  }

  private planPrefills(entries: StepEntry[], prefilling: Sequence[], budget: number, cohort: boolean, idleStart: boolean): number {
    prefilling.sort((a, b) => this.prefillKey(a) - this.prefillKey(b) || a.arrivalStep - b.arrivalStep);
    const counts = allocate(prefilling, budget);
    if (cohort) holdForCohort(prefilling, counts, idleStart);
    let used = 0;
    prefilling.forEach((seq, i) => {
      const n = counts[i] as number;
      if (n === 0) return;
      const endsPrompt = seq.computed + n === seq.promptTokens.length;
      entries.push(entryFor(seq, seq.computed, n, endsPrompt));
      used += n;
    });
    return used;
  }

  /**
   * A finished prompt decodes once no prompt of its cohort (at most HOLD_RATIO times its length) is still prefilling,
   * or as soon as any other stream decodes (then prefill is paced by the latency target anyway).
   */
  private releaseCohortHolds(): void {
    const waits = this.cohortWait();
    for (const seq of this.running.values()) if (seq.heldForCohort && !waits(seq)) seq.heldForCohort = false;
  }

  /**
   * Whether a held sequence still waits at the next step. Its cohort: prompts prefilling, and the waiting ones the free
   * slots will admit (asked between steps, for the drafts of the sequences that will decode).
   */
  private cohortWait(): (seq: Sequence) => boolean {
    const running = [...this.running.values()];
    if (!running.some((s) => s.heldForCohort) || running.some(streams)) return () => false;
    const lengths = [...running.filter((s) => s.status === "prefilling"), ...this.waiting.slice(0, this.slots.free)].map((s) => s.promptTokens.length);
    const shortest = Math.min(...lengths);
    return (seq) => seq.heldForCohort && shortest <= HOLD_RATIO * seq.promptTokens.length;
  }

  private prefillKey(seq: Sequence): number {
    const aging = this.opts.agingStepsPerToken ?? 0.25;
    return seq.remainingPrompt - (this.stepCounter - seq.arrivalStep) / aging;
  }

  /** The prompt tokens computed so far are in the slot's KV: later prompts may copy them. */
  private recordPrefill(seq: Sequence): void {
    const slot = seq.slot as number;
    this.slots.setCached(slot, seq.cacheScope, seq.promptTokens.slice(0, seq.computed));
    if (seq.computed >= seq.promptTokens.length) this.slots.prefilled(slot);
  }

  private releaseSlot(seq: Sequence): void {
    const slot = seq.slot as number;
    const kept: number[] = [];
    for (let i = 0; i < seq.computed; i++) kept.push(seq.tokenAt(i));
    this.slots.setCached(slot, seq.cacheScope, kept);
    this.slots.release(slot);
    seq.slot = null;
  }
}

/** What an admission runs before its prefill: the old content saved, then the prefix copied or restored in. */
function admissionOps(got: SlotAssignment): KvOp[] {
  const ops = saveOps(got.slot, got.save);
  const source = got.source;
  if (source?.kind === "slot") ops.push({ kind: "copy", fromSlot: source.slot, toSlot: got.slot });
  if (source?.kind === "host") ops.push({ kind: "restore", slot: got.slot, path: source.path });
  return ops;
}

/** A sequence that decodes at the next step (as of the last planned step's cohort holds). */
function streams(seq: Sequence): boolean {
  return seq.status === "decoding" && seq.slot !== null && !seq.heldForCohort;
}

/**
 * Cohort rule (see the top of this file): a prompt that finishes this step while a prompt at most HOLD_RATIO times
 * its length stays unfinished, or in the first step after idle, is marked to wait (its first token is still sampled).
 */
function holdForCohort(prefilling: Sequence[], counts: readonly number[], idleStart: boolean): void {
  const unfinished = prefilling.filter((seq, i) => (counts[i] as number) < seq.remainingPrompt);
  if (unfinished.length === 0 && !idleStart) return;
  const shortestUnfinished = Math.min(...unfinished.map((u) => u.promptTokens.length));
  prefilling.forEach((seq, i) => {
    const n = counts[i] as number;
    if (n > 0 && n === seq.remainingPrompt && (idleStart || shortestUnfinished <= HOLD_RATIO * seq.promptTokens.length)) seq.heldForCohort = true;
  });
}

function entryFor(seq: Sequence, start: number, count: number, sample: boolean): StepEntry {
  const tokens: number[] = new Array<number>(count);
  for (let i = 0; i < count; i++) tokens[i] = seq.tokenAt(start + i);
  return { seqId: seq.id, slot: seq.slot as number, start, tokens, sampleAt: sample ? [count - 1] : [], outputIndex: seq.outputTokens.length };
}

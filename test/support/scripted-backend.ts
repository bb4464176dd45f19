// A ModelBackend with no model, for unit tests of the engine loop: characters are tokens (a → 97), the "model"
// answers each sampled position with a scripted token, and each step takes a scripted (noisy, bursty) time. It
// checks what a real backend relies on: positions continue what the slot's KV holds (after the plan's erases), and
// every native sampler it hands out is released exactly once.

import { LoomError } from "../../src/errors.js";
import type { ModelBackend, ModelInfo, SequenceSampling } from "../../src/runtime/model-backend.js";
import type { KvOp, SampledToken, StepPlan, StepResult } from "../../src/runtime/step-plan.js";

export const EOS = 2;

export interface ScriptedBackendOptions {
  readonly slots: number;
  readonly slotContextSize?: number;
  /** The token sampled for a sequence at its nth output (default: "a".."z" cycling). */
  readonly next?: (seqId: string, outputIndex: number) => number;
  /**
   * Instead of `next`: the token sampled at a position from the slot's KV content up to and including it, as a real
   * model's would be: a wrong KV operation (a bad copy, a missed erase) changes the output.
   */
  readonly fromContext?: (context: readonly number[]) => number;
  /** How long step number `step` takes, in ms (default 0). */
  readonly stepMs?: (step: number) => number;
  /** Throw from this step (a failed llama_decode). */
  readonly failStep?: (step: number) => boolean;
}

export class ScriptedBackend implements ModelBackend {
  readonly info: ModelInfo;
  readonly stepsRun: StepPlan[] = [];
  /** The token ids each slot's KV holds, by position. */
  readonly kv: number[][];
  private readonly live = new Set<SequenceSampling>();
  private readonly releasedOnce = new WeakSet<SequenceSampling>();
  released = 0;
  doubleReleases = 0;

  constructor(private readonly opts: ScriptedBackendOptions) {
    this.kv = Array.from({ length: opts.slots }, () => []);
    this.info = {
      path: "scripted",
      trainContextSize: opts.slotContextSize ?? 256,
      vocabSize: 256,
      slotContextSize: opts.slotContextSize ?? 256,
      slots: opts.slots,
      chatTemplate: null,
      bosText: "",
      eosText: "",
      gpu: false,
      threads: 1,
      threadsBatch: 1,
      buildType: "scripted",
      architecture: "scripted",
      maxTokenBytes: 4,
      kvCosts: { copyMs: 0, bytesPerToken: 0, restoreMsPerToken: 0, saveMsPerToken: 0 },
    };
  }

  /** Samplers handed out and not yet released. */
  get liveSamplers(): number {
    return this.live.size;
  }

  tokenize(text: string): number[] {
    return [...text].map((c) => c.charCodeAt(0) & 0xff);
  }

  detokenize(tokens: readonly number[]): string {
    return tokens
      .filter((t) => t !== EOS)
      .map((t) => String.fromCharCode(t))
      .join("");
  }

  isEog(token: number): boolean {
    return token === EOS;
  }

  /** Grammars the loop asked to prepare (the scripted model does not constrain its tokens). */
  readonly grammarsPrepared: string[] = [];

  prepareGrammar(grammar: string): void {
    if (!grammar.includes("root")) throw new LoomError("invalid_request", "scripted: a grammar needs a root rule", "grammar");
    this.grammarsPrepared.push(grammar);
  }

  async step(plan: StepPlan, sampling: (seqId: string) => SequenceSampling): Promise<StepResult> {
    this.stepsRun.push(plan);
    const ms = this.opts.stepMs?.(plan.step) ?? 0;
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.opts.failStep?.(plan.step) === true) throw new Error(`scripted failure in step ${plan.step}`);
    const saved = new Map<string, number>();
    for (const op of plan.kvOps) this.runKvOp(op, saved);
    const sampled = new Map<string, SampledToken[]>();
    for (const e of plan.entries) {
      const kv = this.slotKv(e.slot);
      if (e.start !== kv.length) throw new Error(`step ${plan.step}: ${e.seqId} writes slot ${e.slot} at ${e.start}, which holds ${kv.length}`);
      kv.push(...e.tokens);
      if (e.sampleAt.length === 0) continue;
      const s = sampling(e.seqId);
      this.live.add(s);
      const next = this.opts.next ?? ((_id: string, i: number) => 97 + (i % 26));
      const fromContext = this.opts.fromContext;
      const tokens = e.sampleAt.map((at, k) => ({
        token: fromContext ? fromContext(kv.slice(0, e.start + at + 1)) : next(e.seqId, s.outputTokens.length + k),
      }));
      if (e.verify === true) {
        // As the real executor: sampling stops at the first token that differs from the draft fed after it, and the
        // rejected drafts' KV is erased.
        const stop = tokens.findIndex((t, k) => e.tokens[(e.sampleAt[k] as number) + 1] !== t.token);
        tokens.splice(stop + 1);
        kv.splice(e.start + tokens.length);
        this.verified.push({ seqId: e.seqId, drafted: e.tokens.length - 1, accepted: tokens.length - 1 });
      }
      sampled.set(e.seqId, tokens);
    }
    return saved.size === 0 ? { sampled } : { sampled, saved };
  }

  /** Every verify entry run: its drafts and how many were accepted. */
  readonly verified: { seqId: string; drafted: number; accepted: number }[] = [];

  /** Saved "files" of the host tier: path → the token ids the slot held. */
  readonly files = new Map<string, number[]>();
  /** Paths whose save fails (a full disk). */
  readonly failSaves = new Set<string>();

  private runKvOp(op: KvOp, saved: Map<string, number>): void {
    if (op.kind === "erase") {
      const kv = this.slotKv(op.slot);
      if (op.to === null) kv.splice(op.from);
      else kv.splice(op.from, op.to - op.from);
    } else if (op.kind === "copy") {
      this.kv[op.toSlot] = [...this.slotKv(op.fromSlot)];
    } else if (op.kind === "save") {
      const kv = this.slotKv(op.slot);
      if (kv.length !== op.tokens.length || kv.some((t, i) => t !== op.tokens[i]))
        throw new Error(`save of slot ${op.slot}: it does not hold the tokens named`);
      if (this.failSaves.has(op.path)) return;
      this.files.set(op.path, [...kv]);
      saved.set(op.path, kv.length * 100);
    } else if (op.kind === "restore") {
      const file = this.files.get(op.path);
      if (file === undefined) throw new Error(`restore of ${op.path}: no such file`);
      this.kv[op.slot] = [...file];
    } else if (op.kind === "move") {
      const file = this.files.get(op.from);
      this.files.delete(op.from);
      if (file !== undefined) {
        this.files.set(op.to, file);
        saved.set(op.to, file.length * 100);
      }
    } else {
      this.files.delete(op.path);
    }
  }

  releaseSampling(sampling: SequenceSampling): void {
    if (this.live.delete(sampling)) this.released++;
    else if (this.releasedOnce.has(sampling)) this.doubleReleases++;
    this.releasedOnce.add(sampling);
  }

  /** KV cells each slot holds (what positions may continue). */
  get held(): number[] {
    return this.kv.map((k) => k.length);
  }

  kvCellsUsed(): number {
    return this.kv.reduce((n, k) => n + k.length, 0);
  }

  private slotKv(slot: number): number[] {
    const kv = this.kv[slot];
    if (kv === undefined) throw new Error(`no slot ${slot}`);
    return kv;
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

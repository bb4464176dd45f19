// What moving KV around costs on this machine, measured once when the engine loads; the scheduler weighs prefix
// reuse with it against a prompt token's measured prefill cost.
// - A copy between slots: llama.cpp keeps each slot's KV in its own stream (node-llama-cpp creates contexts with
//   kv_unified off) and a cross-stream seq_cp copies the destination's whole stream buffer, deferred into the next
//   decode: a fixed cost that scales with the per-slot context, not with the prefix (../shared/facts/stack.md §3).
// - A host-tier file: bytes per token of a saved sequence, and the time to save and to restore one token's KV.

import { rm } from "node:fs/promises";
import type { KvOp, StepPlan, StepResult } from "./step-plan.js";

type Step = (plan: StepPlan) => Promise<StepResult>;

export interface KvCosts {
  /** ms a cross-slot copy adds to a step (0 with one slot). */
  readonly copyMs: number;
  /** Bytes of a saved sequence file per token (0 when not measured). */
  readonly bytesPerToken: number;
  /** ms per token to restore a saved sequence (0 when not measured). */
  readonly restoreMsPerToken: number;
  /** ms per token to save a sequence to a file (0 when not measured). */
  readonly saveMsPerToken: number;
}

const ROUNDS = 3;
const NO_FILES = { bytesPerToken: 0, restoreMsPerToken: 0, saveMsPerToken: 0 } as const;
/** Tokens in the probe sequence: enough that a file's size and load time are mostly per-token. */
const PROBE_TOKENS = 64;

/** Measures with slots 0 and 1 (left empty after); the file probe runs when `probeDir` is given. */
export async function measureKvCosts(step: Step, slots: number, token: number, probeDir: string | null): Promise<KvCosts> {
  if (slots < 2) return { copyMs: 0, ...NO_FILES };
  const decode = (slot: number, start: number, tokens: number[], kvOps: KvOp[]): Promise<StepResult> =>
    step({
      step: 0,
      kvOps,
      entries: [{ seqId: "kv-probe", slot, start, tokens, sampleAt: [], outputIndex: 0 }],
      decodeTokens: 0,
      prefillTokens: tokens.length,
    });
  const clear = (slot: number): KvOp => ({ kind: "erase", slot, from: 0, to: null });
  // The source must hold something: a copy from an empty slot only clears the destination.
  const probe = new Array<number>(PROBE_TOKENS).fill(token);
  await decode(0, 0, probe, []);
  let plain = Number.POSITIVE_INFINITY;
  let copied = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    plain = Math.min(plain, await timed(() => decode(1, 0, [token], [clear(1)])));
    copied = Math.min(copied, await timed(() => decode(1, 0, [token], [{ kind: "copy", fromSlot: 0, toSlot: 1 }, clear(1)])));
  }
  const files = probeDir === null ? NO_FILES : await measureFiles(step, probe, probeDir, plain);
  await step({ step: 0, kvOps: [clear(0), clear(1)], entries: [], decodeTokens: 0, prefillTokens: 0 });
  return { copyMs: Math.max(0, copied - plain), ...files };
}

/** Save slot 0 (holding `probe`, best of ROUNDS), then restore it into slot 1 before a one-token decode (minus `plainMs`). */
async function measureFiles(step: Step, probe: number[], dir: string, plainMs: number): Promise<Omit<KvCosts, "copyMs">> {
  const path = `${dir}/kv-probe.kv`;
  try {
    const save = (): Promise<StepResult> =>
      step({ step: 0, kvOps: [{ kind: "save", slot: 0, path, tokens: probe }], entries: [], decodeTokens: 0, prefillTokens: 0 });
    const bytes = (await save()).saved?.get(path);
    if (bytes === undefined) return NO_FILES;
    let saveMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ROUNDS; i++) saveMs = Math.min(saveMs, await timed(save));
    let restore = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ROUNDS; i++) {
      const kvOps: KvOp[] = [
        { kind: "restore", slot: 1, path },
        { kind: "erase", slot: 1, from: probe.length, to: null },
      ];
      const entries = [{ seqId: "kv-probe", slot: 1, start: probe.length, tokens: [probe[0] as number], sampleAt: [], outputIndex: 0 }];
      restore = Math.min(restore, await timed(() => step({ step: 0, kvOps, entries, decodeTokens: 1, prefillTokens: 0 })));
    }
    return { bytesPerToken: bytes / probe.length, restoreMsPerToken: Math.max(0, restore - plainMs) / probe.length, saveMsPerToken: saveMs / probe.length };
  } finally {
    await rm(path, { force: true });
  }
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

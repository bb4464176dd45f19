// How long the engine loop, woken from idle by an arrival, waits for more before its first step. Clients that send
// together reach the worker a few ms apart (the main thread parses and forwards requests one at a time: ~1 ms each
// for a burst of 16 here, with a 7 ms gap once). A prompt that starts alone delays the others by a whole prefill step
// and then, held for its cohort (scheduler.ts), stalls its own stream while theirs prefill. So the loop waits while
// arrivals keep coming, for at most a small part of the prefill it delays: a lone request pays one quiet interval.

/** Arrivals further apart than this end the gather. */
export const ARRIVAL_QUIET_MS = 5;
/** The most the gather may add to a step, as a share of the queued prompts' measured prefill time. */
export const ARRIVAL_GATHER_SHARE = 0.1;
/** The gather's bound before any prefill was measured, and its bound in all cases. */
export const ARRIVAL_GATHER_COLD_MS = 10;
export const ARRIVAL_GATHER_MAX_MS = 50;

export interface GatherState {
  /** Time since the loop woke (ms). */
  readonly waitedMs: number;
  /** Whether a request arrived (or is still being tokenized) since the last wait. */
  readonly arrived: boolean;
  /** The queued prompts' prefill time at the measured per-token cost; null before a prefill was measured. */
  readonly queuedPrefillMs: number | null;
}

/** How long to wait before looking again; 0: start the step now. */
export function nextGatherWaitMs(g: GatherState): number {
  if (!g.arrived) return 0;
  const bound = g.queuedPrefillMs === null ? ARRIVAL_GATHER_COLD_MS : Math.min(ARRIVAL_GATHER_MAX_MS, ARRIVAL_GATHER_SHARE * g.queuedPrefillMs);
  const left = bound - g.waitedMs;
  // Timers fire no sooner than 1 ms: a smaller allowance (a fast GPU's short prefill) is not worth a wait.
  return left < 1 ? 0 : Math.min(ARRIVAL_QUIET_MS, left);
}

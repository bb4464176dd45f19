// PrefixRouter: which engine worker of a model a request goes to when the model has several (--engines N): the one
// whose recent prompts share the longest prefix with this one (its slots or host tier likely still hold that KV),
// unless that worker is busier than the least loaded one by more than the balance bound, so one worker never becomes
// the hot spot (SGLang's cache-aware router, with a relative bound). Pure: keys (token ids) and loads are passed in.
// It remembers the last KEYS_PER_SLOT × slots prompts routed to each worker, in a radix tree.

import { PrefixIndex } from "../cache/prefix-index.js";

/** A shared prefix shorter than this does not decide the route (a BOS and a template header are shared by all). */
export const MIN_ROUTE_MATCH = 32;
/**
 * The prefix-holding worker may carry at most this many times the least loaded worker's requests (one request when
 * that worker is idle). With a larger slack a shared system prompt draws every request to one worker: at 1.5 (+1)
 * workload (a) of bench:prefix ran 5/3 at 8 clients, 1.68× the load.
 */
export const BALANCE_RATIO = 1.25;
const KEYS_PER_SLOT = 4;

export interface RouteChoice {
  readonly worker: number;
  /** Tokens of the key the chosen worker's recent prompts share (0 when routed by load). */
  readonly matched: number;
}

export class PrefixRouter {
  private readonly index = new PrefixIndex<number>();
  private readonly workerOf = new Map<number, number>();
  private readonly recent: number[][];
  private nextId = 0;

  constructor(
    workers: number,
    private readonly slots: number,
  ) {
    this.recent = Array.from({ length: workers }, () => []);
  }

  /**
   * The worker for a request with this key, among those `eligible` (ready, with room). Loads are requests in
   * flight per worker. Null when none is eligible.
   */
  pick(key: readonly number[] | null, loads: readonly number[], eligible: readonly boolean[]): RouteChoice | null {
    let least = -1;
    loads.forEach((load, w) => {
      if (eligible[w] === true && (least < 0 || load < (loads[least] as number))) least = w;
    });
    if (least < 0) return null;
    if (key === null) return { worker: least, matched: 0 };
    const minLoad = loads[least] as number;
    const bound = minLoad === 0 ? 1 : minLoad * BALANCE_RATIO;
    const best = new Map<number, number>();
    for (const [holder, length] of this.index.matchAll(key)) {
      const w = this.workerOf.get(holder) as number;
      best.set(w, Math.max(best.get(w) ?? 0, length));
    }
    let pick: RouteChoice = { worker: least, matched: 0 };
    for (const [w, length] of best) {
      if (eligible[w] !== true || (loads[w] as number) > bound || length < MIN_ROUTE_MATCH) continue;
      // The longest match; between equal ones (a prefix both workers hold), the less loaded.
      const better = length > pick.matched || (length === pick.matched && (loads[w] as number) < (loads[pick.worker] as number));
      if (better) pick = { worker: w, matched: length };
    }
    return pick;
  }

  /** A request with this key went to `worker`: later ones sharing its prefix may follow it there. */
  record(worker: number, key: readonly number[] | null): void {
    if (key === null || key.length === 0) return;
    const id = ++this.nextId;
    this.index.set(id, key);
    this.workerOf.set(id, worker);
    const recent = this.recent[worker] as number[];
    recent.push(id);
    while (recent.length > KEYS_PER_SLOT * this.slots) this.forget(recent.shift() as number);
  }

  /** The worker restarted with empty KV: nothing it held counts any more. */
  forgetWorker(worker: number): void {
    for (const id of (this.recent[worker] as number[]).splice(0)) this.forget(id);
  }

  private forget(id: number): void {
    this.index.delete(id);
    this.workerOf.delete(id);
  }
}

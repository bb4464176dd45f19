// Which thread count a decode-only step runs with: --threads-batch, or --threads where that measures faster at the
// step's token count. llama.cpp runs a multi-token batch on --threads-batch, and its threads meet at a barrier after
// every op, so on a machine with as many cores as decode threads, a core taken by anything else (the server process
// writing streams, a client) stalls the whole graph. Measured on 2 vCPUs (margin model, 8 streams, 2026-12-06): with
// 2 threads llama_decode took 3.4 ms at p50 but 12–40 ms in a fifth of the steps (722–852 tok/s in most runs), with
// 1 thread a steady ~5 ms (1,304–1,355 tok/s). On the 12-layer bench model 2 threads win (9.8 ms at p50, a mean only
// 7% above it) and trying 1 thread costs ~1.8× a step. So the other count is tried only where the batch threads' steps
// show that heavy tail (mean well above median), and then the means decide: the stalls are what costs.

/** Steps kept per thread count and token count. */
const WINDOW = 16;
/** Steps on --threads-batch before their tail is judged, and steps on --threads before the means are compared. */
const MIN_SAMPLES = 8;
/** Mean over median of the batch threads' steps beyond which the other count is worth a try. */
const TAIL_RATIO = 1.5;
/** Every this many decisions at a token count the option not chosen is measured again (costs change with load). */
const REVISIT_EVERY = 64;
/** Token counts above this are left to --threads-batch. */
const MAX_COUNT = 64;

interface CountState {
  readonly ms: Map<number, number[]>;
  decisions: number;
}

export class DecodeThreads {
  private readonly byCount = new Map<number, CountState>();

  constructor(
    private readonly threads: number,
    private readonly threadsBatch: number,
  ) {}

  /** Threads for a decode-only step of `tokens` tokens (one token for each of several sequences). */
  pick(tokens: number): number {
    if (!this.applies(tokens)) return this.threadsBatch;
    const st = this.state(tokens);
    st.decisions++;
    const batch = st.ms.get(this.threadsBatch) ?? [];
    const single = st.ms.get(this.threads) ?? [];
    if (batch.length < MIN_SAMPLES) return this.threadsBatch;
    if (single.length < MIN_SAMPLES) return mean(batch) > TAIL_RATIO * median(batch) ? this.threads : this.threadsBatch;
    const [best, other] = mean(single) < mean(batch) ? [this.threads, this.threadsBatch] : [this.threadsBatch, this.threads];
    return st.decisions % REVISIT_EVERY === 0 ? other : best;
  }

  /** A decode-only step's wall time with the thread count it ran with. */
  observe(tokens: number, threads: number, ms: number): void {
    if (!this.applies(tokens)) return;
    const st = this.state(tokens);
    const list = st.ms.get(threads) ?? [];
    list.push(ms);
    if (list.length > WINDOW) list.shift();
    st.ms.set(threads, list);
  }

  private applies(tokens: number): boolean {
    return this.threads !== this.threadsBatch && tokens > 1 && tokens <= MAX_COUNT;
  }

  private state(tokens: number): CountState {
    let st = this.byCount.get(tokens);
    if (st === undefined) {
      st = { ms: new Map(), decisions: 0 };
      this.byCount.set(tokens, st);
    }
    return st;
  }
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.POSITIVE_INFINITY : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

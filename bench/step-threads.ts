// StepThreads (bench only: profile-step.ts times node-llama-cpp's own evaluation path, which Loom no longer uses;
// Loom's engine sets threads per step in src/runtime/batch-executor.ts): llama.cpp thread count chosen per engine step, by the step's size (llama.cpp's own rule for
// n_threads vs n_threads_batch: a single-token batch uses `threads`, a larger one `threadsBatch`).
// node-llama-cpp sets one count for both and re-applies its own choice before every decode, so this wraps the
// context's native handle and substitutes ours. Measured on 2 vCPUs (bench model): 1 token/step 7.3 ms with 1 thread
// vs 17.3 ms with 2; 16 tokens/step 52 ms with 1 thread vs 32 ms with 2. If node-llama-cpp's internals change, this
// logs once and leaves its fixed count in place: slower, never wrong.

type NativeContext = { setThreads(threads: number): void } & Record<string | symbol, unknown>;

export class StepThreads {
  private current: number;
  private readonly active: boolean;

  constructor(
    context: object,
    private readonly threads: number,
    private readonly threadsBatch: number,
    log: (level: "warn", message: string) => void,
  ) {
    this.current = threads;
    this.active = threads !== threadsBatch && this.wrap(context as { _ctx?: unknown }, log);
  }

  /** Call before queueing a step of `tokens` tokens. */
  useFor(tokens: number): void {
    if (this.active) this.current = tokens > 1 ? this.threadsBatch : this.threads;
  }

  private wrap(context: { _ctx?: unknown }, log: (level: "warn", message: string) => void): boolean {
    const native = context._ctx as NativeContext | undefined;
    if (native === undefined || typeof native.setThreads !== "function") {
      log("warn", "node-llama-cpp internals changed: per-step thread counts disabled, using --threads-batch throughout");
      return false;
    }
    const bound = new Map<string | symbol, unknown>();
    context._ctx = new Proxy(native, {
      get: (target, prop) => {
        if (prop === "setThreads") return () => target.setThreads(this.current);
        const value = target[prop];
        if (typeof value !== "function") return value;
        // Native methods need the real object as `this`; bind once per method.
        let fn = bound.get(prop);
        if (fn === undefined) {
          fn = (value as (...args: unknown[]) => unknown).bind(target);
          bound.set(prop, fn);
        }
        return fn;
      },
    });
    return true;
  }
}

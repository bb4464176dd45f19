// Main-thread event-loop delay, sampled by Node's own histogram (perf_hooks). The main thread only does I/O,
// admission and routing, so its lag is what every client's latency pays on top of the engine's.

import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface EventLoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram;

  constructor(resolutionMs = 10) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }

  /** Milliseconds since start (or since the last reset). */
  snapshot(): EventLoopDelay {
    const ns = 1e6;
    return { p50: this.histogram.percentile(50) / ns, p99: this.histogram.percentile(99) / ns, max: this.histogram.max / ns };
  }

  reset(): void {
    this.histogram.reset();
  }

  stop(): void {
    this.histogram.disable();
  }
}

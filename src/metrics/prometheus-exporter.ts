// PrometheusExporter: the only prom-client user. Registers the metrics of metric-names.ts, consumes the engine's
// plain stats (EngineObserver) and error reports, and reads gauges from a snapshot at scrape time. Engine-worker
// step stats arrive on the main thread in step messages, so one registry holds everything.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EngineObserver, FinishedRequestStats } from "../engine/request-stats.js";
import type { EngineStats, SpeculationCounts } from "../engine-worker/worker-messages.js";
import { METRICS, VLLM_COMPAT, type MetricDef } from "./metric-names.js";

export interface GaugeSnapshot {
  readonly models: readonly {
    readonly model: string;
    readonly running: number;
    readonly waiting: number;
    readonly kvUsed: number;
    readonly kvTotal: number;
    readonly slotsBusy: number;
    readonly slots: number;
    readonly hostTierBytes: number;
    readonly hostTierEntries: number;
    readonly enginesReady: number;
    /** Cumulative (the exporter counts what is new since the last scrape). */
    readonly engineRestarts: number;
  }[];
  readonly activeStreams: ReadonlyMap<string, number>;
  readonly eventLoopLagP99Ms: number;
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

export class PrometheusExporter implements EngineObserver {
  readonly registry = new Registry();
  private readonly m = new Map<string, AnyMetric>();
  private readonly lastStep = new Map<string, number>();
  /** Per worker and proposer: the cumulative speculation counts already counted. */
  private readonly specSeen = new Map<string, SpeculationCounts>();
  /** Per model: engine restarts already counted. */
  private readonly restartsSeen = new Map<string, number>();
  /** Per model and proposer: totals since start (the ratio gauges). */
  private readonly specTotals = new Map<string, SpeculationCounts>();

  constructor(
    private readonly snapshot: () => GaugeSnapshot,
    private readonly vllmCompat: boolean,
  ) {
    collectDefaultMetrics({ register: this.registry });
    for (const def of Object.values(METRICS)) this.register(def);
    if (vllmCompat) for (const def of Object.values(VLLM_COMPAT)) this.register(def);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  /** Gauges are read here, at scrape time, from the engine's latest step stats: no bookkeeping on the hot path. */
  async scrape(): Promise<string> {
    this.refreshGauges();
    return this.registry.metrics();
  }

  requestFinished(s: FinishedRequestStats): void {
    const model = { model: s.model };
    const reason = s.finishReason ?? "error";
    this.counter(METRICS.requests.name).inc({ model: s.model, transport: s.transport, finish_reason: reason });
    if (reason === "cancelled" || s.errorCode === "deadline_exceeded") this.counter(METRICS.aborts.name).inc({ model: s.model, transport: s.transport });
    if (s.errorCode !== null) this.counter(METRICS.errors.name).inc({ code: s.errorCode });
    this.counter(METRICS.promptTokens.name).inc(model, s.promptTokens);
    this.counter(METRICS.cachedPromptTokens.name).inc(model, s.cachedTokens);
    if (this.vllmCompat) {
      this.counter(VLLM_COMPAT.prefixQueries.name).inc({ model_name: s.model }, s.promptTokens);
      this.counter(VLLM_COMPAT.prefixHits.name).inc({ model_name: s.model }, s.cachedTokens);
    }
    this.counter(METRICS.generationTokens.name).inc(model, s.completionTokens);
    this.histogram(METRICS.promptLength.name).observe(model, s.promptTokens);
    this.histogram(METRICS.generationLength.name).observe(model, s.completionTokens);
    this.observeSeconds(METRICS.e2e.name, VLLM_COMPAT.e2e.name, s.model, s.e2eMs);
    if (s.ttftMs !== null) this.observeSeconds(METRICS.ttft.name, VLLM_COMPAT.ttft.name, s.model, s.ttftMs);
    if (s.timings !== null) {
      this.histogram(METRICS.queue.name).observe(model, s.timings.queueMs / 1000);
      this.histogram(METRICS.prefill.name).observe(model, s.timings.prefillMs / 1000);
      this.histogram(METRICS.decode.name).observe(model, s.timings.decodeMs / 1000);
    }
  }

  tokens(model: string, count: number, gapMs: number): void {
    // A merged delta of n tokens after gap g counts as n tokens g/n apart.
    for (let i = 0; i < count; i++) this.observeSeconds(METRICS.itl.name, VLLM_COMPAT.itl.name, model, gapMs / count);
  }

  step(model: string, workerId: number, stats: EngineStats): void {
    const key = `${model}/${workerId}`;
    // Step messages also carry cancellations between steps: count each executed step once.
    if (this.lastStep.get(key) === stats.steps || stats.lastBatchTokens === 0) return;
    this.lastStep.set(key, stats.steps);
    this.histogram(METRICS.stepTokens.name).observe({ model }, stats.lastBatchTokens);
    this.histogram(METRICS.stepDuration.name).observe({ model }, stats.lastStepMs / 1000);
    if (stats.lastKvCopies > 0) this.counter(METRICS.prefixCopies.name).inc({ model }, stats.lastKvCopies);
    if (stats.lastKvRestores > 0) this.counter(METRICS.prefixRestores.name).inc({ model }, stats.lastKvRestores);
    this.countSpeculation(model, key, stats);
  }

  /** The worker's cumulative speculation counts → counter increments (and the totals behind the ratio gauges). */
  private countSpeculation(model: string, key: string, stats: EngineStats): void {
    for (const [proposer, c] of Object.entries(stats.speculation) as [string, SpeculationCounts][]) {
      const seenKey = `${key}/${proposer}`;
      const prev = this.specSeen.get(seenKey) ?? { drafts: 0, draftTokens: 0, acceptedTokens: 0 };
      // A restarted worker counts from zero again: anything below what was seen is a reset, never a negative increment.
      const reset = c.drafts < prev.drafts || c.draftTokens < prev.draftTokens || c.acceptedTokens < prev.acceptedTokens;
      const seen = reset ? { drafts: 0, draftTokens: 0, acceptedTokens: 0 } : prev;
      const d = { drafts: c.drafts - seen.drafts, draftTokens: c.draftTokens - seen.draftTokens, acceptedTokens: c.acceptedTokens - seen.acceptedTokens };
      this.specSeen.set(seenKey, { ...c });
      if (d.drafts <= 0) continue;
      const labels = { model, proposer };
      this.counter(METRICS.specDrafts.name).inc(labels, d.drafts);
      this.counter(METRICS.specDraftTokens.name).inc(labels, d.draftTokens);
      this.counter(METRICS.specAcceptedTokens.name).inc(labels, d.acceptedTokens);
      if (this.vllmCompat) {
        this.counter(VLLM_COMPAT.specDrafts.name).inc({ model_name: model }, d.drafts);
        this.counter(VLLM_COMPAT.specDraftTokens.name).inc({ model_name: model }, d.draftTokens);
        this.counter(VLLM_COMPAT.specAcceptedTokens.name).inc({ model_name: model }, d.acceptedTokens);
      }
      const total = this.specTotals.get(`${model}\u0000${proposer}`) ?? { drafts: 0, draftTokens: 0, acceptedTokens: 0 };
      total.drafts += d.drafts;
      total.draftTokens += d.draftTokens;
      total.acceptedTokens += d.acceptedTokens;
      this.specTotals.set(`${model}\u0000${proposer}`, total);
    }
  }

  /** Errors refused before reaching the engine (validation, auth, queue full, …). */
  error(code: string): void {
    this.counter(METRICS.errors.name).inc({ code });
  }

  private refreshGauges(): void {
    const snap = this.snapshot();
    const gauges = [
      METRICS.running,
      METRICS.waiting,
      METRICS.kvUsage,
      METRICS.slotsBusy,
      METRICS.slotsFree,
      METRICS.activeStreams,
      METRICS.hostTierBytes,
      METRICS.hostTierEntries,
      METRICS.enginesReady,
    ];
    for (const g of gauges) this.gauge(g.name).reset();
    for (const s of snap.models) {
      const kv = s.kvTotal > 0 ? s.kvUsed / s.kvTotal : 0;
      this.setBoth(METRICS.running.name, VLLM_COMPAT.running.name, s.model, s.running);
      this.setBoth(METRICS.waiting.name, VLLM_COMPAT.waiting.name, s.model, s.waiting);
      this.setBoth(METRICS.kvUsage.name, VLLM_COMPAT.kvUsage.name, s.model, kv);
      this.gauge(METRICS.slotsBusy.name).set({ model: s.model }, s.slotsBusy);
      this.gauge(METRICS.slotsFree.name).set({ model: s.model }, s.slots - s.slotsBusy);
      this.gauge(METRICS.hostTierBytes.name).set({ model: s.model }, s.hostTierBytes);
      this.gauge(METRICS.hostTierEntries.name).set({ model: s.model }, s.hostTierEntries);
      this.gauge(METRICS.enginesReady.name).set({ model: s.model }, s.enginesReady);
      // inc by 0 too, so the series exists (at 0) before the first restart.
      this.counter(METRICS.engineRestarts.name).inc({ model: s.model }, Math.max(0, s.engineRestarts - (this.restartsSeen.get(s.model) ?? 0)));
      this.restartsSeen.set(s.model, s.engineRestarts);
    }
    for (const [transport, n] of snap.activeStreams) this.gauge(METRICS.activeStreams.name).set({ transport }, n);
    for (const [k, t] of this.specTotals) {
      const [model, proposer] = k.split("\u0000") as [string, string];
      if (t.draftTokens > 0) this.gauge(METRICS.specAcceptanceRate.name).set({ model, proposer }, t.acceptedTokens / t.draftTokens);
      if (t.drafts > 0) this.gauge(METRICS.specMeanAcceptedLength.name).set({ model, proposer }, 1 + t.acceptedTokens / t.drafts);
    }
    this.gauge(METRICS.eventLoopLag.name).set(snap.eventLoopLagP99Ms / 1000);
  }

  private setBoth(loom: string, vllm: string, model: string, value: number): void {
    this.gauge(loom).set({ model }, value);
    if (this.vllmCompat) this.gauge(vllm).set({ model_name: model }, value);
  }

  private observeSeconds(loom: string, vllm: string, model: string, ms: number): void {
    this.histogram(loom).observe({ model }, ms / 1000);
    if (this.vllmCompat) this.histogram(vllm).observe({ model_name: model }, ms / 1000);
  }

  private register(def: MetricDef): void {
    const base = { name: def.name, help: def.help, labelNames: [...def.labels], registers: [this.registry] };
    const metric =
      def.type === "counter" ? new Counter(base) : def.type === "gauge" ? new Gauge(base) : new Histogram({ ...base, buckets: [...(def.buckets ?? [])] });
    this.m.set(def.name, metric);
  }

  private counter(name: string): Counter<string> {
    return this.m.get(name) as Counter<string>;
  }

  private gauge(name: string): Gauge<string> {
    return this.m.get(name) as Gauge<string>;
  }

  private histogram(name: string): Histogram<string> {
    return this.m.get(name) as Histogram<string>;
  }
}

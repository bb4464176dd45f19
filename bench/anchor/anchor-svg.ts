// The anchor report's charts as one dependency-free SVG (bench/results/anchor-latest.svg): one column of panels per
// prompt length, one row per metric, one group of bars per concurrency with a bar per engine (Loom native, Loom
// prebuilt, llama-server). Aggregate tok/s on a linear axis per panel; TTFT and ITL percentiles on a log axis shared
// across the row, since they span 10 ms to minutes. Values are written above the bars, turned upright so they never
// overlap their neighbours.

import { cellKeys, engineLabel, enginesIn, findCell, type AnchorReport, type CellResult, type Engine } from "./anchor-report.js";

const COLORS: Readonly<Record<Engine, string>> = { loom: "#1f5fcf", loomPrebuilt: "#8db4f2", llamaServer: "#e08a1e" };
const PANEL_W = 470;
const ROW_H = 240;
/** Inside a panel: room for the axis labels (left), the panel caption (top), value labels above the tallest bar. */
const PAD = { l: 58, r: 14, caption: 22, labels: 40, b: 40 } as const;
const LEFT = 12;
/** Wide enough for the title lines when there is one prompt length. */
const MIN_W = 760;
const LEGEND_Y = 60;
const LEGEND_LINE = 18;

interface Metric {
  readonly title: string;
  readonly value: (c: CellResult) => number;
  readonly log: boolean;
}

const METRICS: readonly Metric[] = [
  { title: "Aggregate output tokens/s (higher is better; each panel has its own axis)", value: (c) => c.outputTokensPerSecond, log: false },
  { title: "Time to first token, p50 (log scale, lower is better)", value: (c) => c.ttftMs.p50, log: true },
  { title: "Time to first token, p99 (log scale, lower is better)", value: (c) => c.ttftMs.p99, log: true },
  { title: "Inter-token latency, p50 (log scale, lower is better)", value: (c) => c.itlMs.p50, log: true },
  { title: "Inter-token latency, p99 (log scale, lower is better)", value: (c) => c.itlMs.p99, log: true },
];

interface Scale {
  readonly ticks: readonly { readonly v: number; readonly label: string; readonly major: boolean }[];
  /** 0 at the axis bottom, 1 at its top. */
  readonly frac: (v: number) => number;
}

export function renderAnchorSvg(r: AnchorReport): string {
  const engines = enginesIn(r);
  const keys = cellKeys(r);
  const prompts = [...new Set(keys.map((k) => k.p))];
  const cols = Math.max(1, prompts.length);
  const W = Math.max(cols * PANEL_W, MIN_W) + 2 * LEFT;
  const leg = legend(r, engines, W);
  const head = LEGEND_Y + (leg.lines - 1) * LEGEND_LINE + 16;
  const H = head + METRICS.length * ROW_H + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<title>Loom vs llama-server, ${esc(r.date.slice(0, 10))}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">Loom vs llama-server: ${esc(r.model.split("/").pop() ?? r.model)}, ${r.parallel} slots, threads ${r.threads}/${r.threadsBatch}</text>`,
    `<text x="${LEFT}" y="40" fill="#555">${esc(`${r.date.slice(0, 10)} · ${r.machine.cpus} × ${r.machine.cpu} · llama-server ${r.llamaServer.commit} · bars grouped by concurrent clients, one column per prompt length`)}</text>`,
    leg.svg,
  ];
  METRICS.forEach((m, i) => {
    const y0 = head + i * ROW_H;
    const values = engines.flatMap((e) => (r.engines[e]?.cells ?? []).map(m.value)).filter((v) => Number.isFinite(v) && v > 0);
    parts.push(`<text x="${LEFT}" y="${y0 + 14}" font-size="13" font-weight="bold">${esc(m.title)}</text>`);
    prompts.forEach((p, j) => {
      const cells = keys.filter((k) => k.p === p).map((k) => k.c);
      const own = engines
        .flatMap((e) => cells.map((c) => findCell(r.engines[e], p, c)))
        .filter((c) => c !== undefined)
        .map(m.value)
        .filter((v) => Number.isFinite(v) && v > 0);
      const scale = m.log ? logScale(values) : linearScale(own);
      parts.push(panel(r, engines, p, cells, m, scale, LEFT + j * PANEL_W, y0 + 18));
    });
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}

/** Legend entries left to right, wrapping onto further lines of LEGEND_LINE px where the width runs out. */
function legend(r: AnchorReport, engines: readonly Engine[], width: number): { readonly svg: string; readonly lines: number } {
  let x = LEFT;
  let line = 0;
  const out = ['<g class="legend">'];
  for (const e of engines) {
    const run = r.engines[e];
    const b = run?.binary;
    const detail =
      e === "llamaServer" ? `${r.llamaServer.commit}, GGML_NATIVE build` : b ? `--native-build ${b.nativeBuild} → ${b.buildType}` : "binary not recorded";
    const text = `${engineLabel(e, run)} (${detail})`;
    const w = 17 + textWidth(text, 11);
    if (x > LEFT && x + w > width - LEFT) {
      x = LEFT;
      line++;
    }
    const y = LEGEND_Y + line * LEGEND_LINE;
    out.push(
      `<g class="legend-entry"><rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[e]}"/><text x="${x + 17}" y="${y}">${esc(text)}</text></g>`,
    );
    x += w + 24;
  }
  out.push("</g>");
  return { svg: out.join(""), lines: line + 1 };
}

function panel(r: AnchorReport, engines: readonly Engine[], prompt: number, concs: readonly number[], m: Metric, s: Scale, x0: number, y0: number): string {
  const plotL = x0 + PAD.l;
  const plotR = x0 + PANEL_W - PAD.r;
  const top = y0 + PAD.caption + PAD.labels;
  const bottom = y0 + ROW_H - 18 - PAD.b;
  const yOf = (v: number): number => bottom - Math.min(1, Math.max(0, s.frac(v))) * (bottom - top);
  const out = [`<text x="${(plotL + plotR) / 2}" y="${y0 + 16}" text-anchor="middle" fill="#333">${prompt}-token prompts</text>`];
  for (const t of s.ticks) {
    const y = yOf(t.v).toFixed(1);
    out.push(`<line x1="${plotL}" x2="${plotR}" y1="${y}" y2="${y}" stroke="${t.major ? "#d4d4d4" : "#eeeeee"}"/>`);
    if (t.label !== "") out.push(`<text x="${plotL - 5}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${esc(t.label)}</text>`);
  }
  out.push(`<line x1="${plotL}" x2="${plotR}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`);
  const gw = (plotR - plotL) / Math.max(1, concs.length);
  const bw = Math.min(30, (gw * 0.82) / Math.max(1, engines.length));
  concs.forEach((c, i) => {
    const cx = plotL + gw * i + gw / 2;
    engines.forEach((e, j) => {
      const cell = findCell(r.engines[e], prompt, c);
      const x = cx - (engines.length * bw) / 2 + j * bw;
      const v = cell ? m.value(cell) : NaN;
      if (!Number.isFinite(v) || (m.log && v <= 0)) {
        out.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${bottom - 4}" text-anchor="middle" font-size="9" fill="#999">–</text>`);
        return;
      }
      const y = yOf(v);
      const name = engineLabel(e, r.engines[e]);
      out.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${COLORS[e]}"><title>${esc(`${name}, prompt ${prompt}, ${c} clients: ${m.log ? ms(v) : fmt(v)}`)}</title></rect>`,
      );
      const lx = (x + bw / 2 + 3).toFixed(1);
      const ly = (y - 4).toFixed(1);
      out.push(`<text transform="translate(${lx},${ly}) rotate(-90)" font-size="9.5" fill="#222">${esc(m.log ? ms(v) : fmt(v))}</text>`);
    });
    out.push(`<text x="${cx.toFixed(1)}" y="${bottom + 15}" text-anchor="middle">${c}</text>`);
  });
  out.push(`<text x="${(plotL + plotR) / 2}" y="${bottom + 31}" text-anchor="middle" fill="#666" font-size="10">concurrent clients</text>`);
  return out.join("\n");
}

function linearScale(values: readonly number[]): Scale {
  const max = niceMax(Math.max(1e-9, ...values));
  const ticks = [0, 1, 2, 3, 4].map((i) => ({ v: (max * i) / 4, label: String(Number(((max * i) / 4).toPrecision(4))), major: true }));
  return { ticks, frac: (v) => v / max };
}

/** Whole decades around the values, gridlines at 2× and 5×, labels in ms below a second and s above. */
function logScale(values: readonly number[]): Scale {
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1e9) * 0.95));
  const hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(Math.max(...values, 1e-9) * 1.05)));
  const ticks: Scale["ticks"][number][] = [];
  for (let d = lo; d <= hi * 1.001; d *= 10) {
    ticks.push({ v: d, label: ms(d), major: true });
    for (const k of [2, 5]) if (d * k < hi) ticks.push({ v: d * k, label: "", major: false });
  }
  const span = Math.log10(hi) - Math.log10(lo);
  return { ticks, frac: (v) => (Math.log10(v) - Math.log10(lo)) / span };
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A latency in ms as the axis and labels show it: "8.5 ms", "198 ms", "1.3 s", "79 s". */
function ms(v: number): string {
  const trim = (x: string): string => x.replace(/\.0+$/, "");
  if (v >= 1000) return `${v >= 100_000 ? (v / 1000).toFixed(0) : trim((v / 1000).toFixed(1))} s`;
  return `${v >= 10 ? v.toFixed(0) : trim(v.toFixed(v >= 1 ? 1 : 2))} ms`;
}

/** Rough width of sans-serif text (for laying out the legend). */
function textWidth(s: string, size: number): number {
  return s.length * size * 0.56;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

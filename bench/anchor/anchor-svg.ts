// Two small SVG bar charts for the anchor report (no dependencies): aggregate output tok/s and TTFT p99 per workload
// and concurrency, Loom beside llama-server. Written next to anchor-latest.md as anchor-latest.svg.

import type { AnchorReport, CellResult } from "./anchor-report.js";

const W = 760;
const H = 260;
const PAD = { l: 60, r: 20, t: 34, b: 46 };
const COLORS = { loom: "#2f6fdf", llamaServer: "#e08a1e" } as const;

interface Group {
  readonly label: string;
  readonly loom: number;
  readonly llamaServer: number;
}

export function renderAnchorSvg(r: AnchorReport): string {
  const tp = groups(r, (c) => c.outputTokensPerSecond);
  const ttft = groups(r, (c) => c.ttftMs.p99 / 1000);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${2 * H}" fill="white"/>`,
    chart(tp, 0, "Aggregate output tok/s (higher is better)"),
    chart(ttft, H, "TTFT p99, seconds (lower is better)"),
    `<rect x="${W - 190}" y="8" width="10" height="10" fill="${COLORS.loom}"/><text x="${W - 176}" y="17">Loom</text>`,
    `<rect x="${W - 120}" y="8" width="10" height="10" fill="${COLORS.llamaServer}"/><text x="${W - 106}" y="17">llama-server</text>`,
    "</svg>",
    "",
  ].join("\n");
}

function groups(r: AnchorReport, value: (c: CellResult) => number): Group[] {
  const loom = r.engines.loom?.cells ?? [];
  const ls = r.engines.llamaServer?.cells ?? [];
  const keys = [...new Set([...loom, ...ls].map((c) => `${c.promptTokens}/${c.concurrency}`))];
  const find = (cells: readonly CellResult[], k: string): number => {
    const c = cells.find((x) => `${x.promptTokens}/${x.concurrency}` === k);
    return c ? value(c) : 0;
  };
  return keys
    .map((k) => ({ k, p: Number(k.split("/")[0]), c: Number(k.split("/")[1]) }))
    .sort((a, b) => a.p - b.p || a.c - b.c)
    .map(({ k, p, c }) => ({ label: `p${p} c${c}`, loom: find(loom, k), llamaServer: find(ls, k) }));
}

function chart(gs: readonly Group[], y0: number, title: string): string {
  const max = niceMax(Math.max(1e-9, ...gs.flatMap((g) => [g.loom, g.llamaServer])));
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const gw = plotW / Math.max(1, gs.length);
  const bw = Math.min(28, gw / 3);
  const yOf = (v: number): number => y0 + PAD.t + plotH - (v / max) * plotH;
  const parts = [`<text x="${PAD.l}" y="${y0 + 20}" font-size="13" font-weight="bold">${title}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = yOf(v).toFixed(1);
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  gs.forEach((g, i) => {
    const cx = PAD.l + gw * i + gw / 2;
    for (const [j, key] of (["loom", "llamaServer"] as const).entries()) {
      const v = g[key];
      const x = cx - bw + j * bw;
      const y = yOf(v);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(yOf(0) - y).toFixed(1)}" fill="${COLORS[key]}"><title>${g.label} ${key}: ${fmt(v)}</title></rect>`);
      parts.push(`<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="9">${fmt(v)}</text>`);
    }
    parts.push(`<text x="${cx.toFixed(1)}" y="${y0 + H - PAD.b + 16}" text-anchor="middle">${g.label}</text>`);
  });
  return parts.join("\n");
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

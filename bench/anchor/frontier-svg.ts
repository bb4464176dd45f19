// The latency-target frontier as one dependency-free SVG (bench/results/frontier-latest.svg): the mixed workload's
// running-stream ITL p99 during prefill (x) against the long prompts' TTFT p50 (y), one point per --itl-target,
// joined in target order, with llama-server's point beside them. Both axes log scale, lower-left is better.

export interface FrontierPoint {
  readonly label: string;
  readonly itlP99Ms: number;
  readonly longTtftP50Ms: number;
}

export interface FrontierChart {
  readonly title: string;
  readonly subtitle: string;
  readonly loom: readonly FrontierPoint[];
  readonly anchor: FrontierPoint | null;
}

const W = 760;
const H = 520;
const PAD = { l: 80, r: 30, t: 70, b: 60 } as const;

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s` : `${ms.toFixed(0)} ms`);

/** Decade ticks (1, 2, 5 × 10^k) covering [lo, hi] on a log axis. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(v);
    }
  return out;
}

function axis(values: readonly number[]): { lo: number; hi: number; at: (v: number) => number } {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.min(...finite) / 1.6;
  const hi = Math.max(...finite) * 1.6;
  return { lo, hi, at: (v) => (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) };
}

export function renderFrontierSvg(c: FrontierChart): string {
  const all = [...c.loom, ...(c.anchor ? [c.anchor] : [])];
  const xa = axis(all.map((p) => p.itlP99Ms));
  const ya = axis(all.map((p) => p.longTtftP50Ms));
  const x = (v: number): number => PAD.l + xa.at(v) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - ya.at(v) * (H - PAD.t - PAD.b);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${PAD.l}" y="24" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="${PAD.l}" y="44" fill="#555">${esc(c.subtitle)}</text>`,
  ];
  for (const v of ticks(xa.lo, xa.hi))
    parts.push(
      `<line x1="${x(v)}" y1="${PAD.t}" x2="${x(v)}" y2="${H - PAD.b}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${H - PAD.b + 16}" text-anchor="middle" fill="#444">${fmt(v)}</text>`,
    );
  for (const v of ticks(ya.lo, ya.hi))
    parts.push(
      `<line x1="${PAD.l}" y1="${y(v)}" x2="${W - PAD.r}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${PAD.l - 6}" y="${y(v) + 4}" text-anchor="end" fill="#444">${fmt(v)}</text>`,
    );
  parts.push(
    `<rect x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}" fill="none" stroke="#888"/>`,
    `<text x="${(PAD.l + W - PAD.r) / 2}" y="${H - 18}" text-anchor="middle">running streams' inter-token latency p99 while long prompts prefill (log)</text>`,
    `<text transform="translate(18 ${(PAD.t + H - PAD.b) / 2}) rotate(-90)" text-anchor="middle">long prompts' TTFT p50 (log)</text>`,
  );
  const pts = c.loom.filter((p) => p.itlP99Ms > 0 && p.longTtftP50Ms > 0);
  if (pts.length > 1)
    parts.push(`<polyline fill="none" stroke="#1f5fcf" stroke-width="2" points="${pts.map((p) => `${x(p.itlP99Ms)},${y(p.longTtftP50Ms)}`).join(" ")}"/>`);
  for (const p of pts)
    parts.push(
      `<circle cx="${x(p.itlP99Ms)}" cy="${y(p.longTtftP50Ms)}" r="5" fill="#1f5fcf"/>`,
      `<text x="${x(p.itlP99Ms) + 8}" y="${y(p.longTtftP50Ms) - 8}" fill="#1f5fcf">${esc(p.label)}</text>`,
    );
  if (c.anchor !== null) {
    const a = c.anchor;
    parts.push(
      `<rect x="${x(a.itlP99Ms) - 6}" y="${y(a.longTtftP50Ms) - 6}" width="12" height="12" fill="#e08a1e"/>`,
      `<text x="${x(a.itlP99Ms) - 10}" y="${y(a.longTtftP50Ms) - 10}" text-anchor="end" fill="#b0650a">${esc(a.label)}</text>`,
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

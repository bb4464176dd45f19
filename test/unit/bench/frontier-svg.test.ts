// The frontier chart renders every Loom point in target order joined by one line, llama-server's point apart, and
// log axes that cover every value.
import { describe, expect, it } from "vitest";
import { renderFrontierSvg } from "../../../bench/anchor/frontier-svg.js";

describe("renderFrontierSvg", () => {
  it("plots each target, the anchor and axis ticks spanning the data", () => {
    const svg = renderFrontierSvg({
      title: "t",
      subtitle: "s <&>",
      loom: [
        { label: "100 ms", itlP99Ms: 180, longTtftP50Ms: 44_000 },
        { label: "250 ms", itlP99Ms: 390, longTtftP50Ms: 17_000 },
        { label: "1000 ms", itlP99Ms: 1_300, longTtftP50Ms: 13_600 },
      ],
      anchor: { label: "llama-server", itlP99Ms: 3_600, longTtftP50Ms: 9_400 },
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("s &lt;&amp;&gt;");
    expect(svg.match(/<circle /g)?.length).toBe(3);
    expect(svg.match(/<polyline /g)?.length).toBe(1);
    for (const label of ["100 ms", "250 ms", "1000 ms", "llama-server", "200 ms", "2.0 s", "10 s", "20 s"]) expect(svg).toContain(`>${label}</text>`);
    // Lower TTFT is drawn higher up (larger y is lower on screen): the 100 ms point sits above the 1000 ms one.
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(ys[0]).toBeLessThan(ys[2] as number);
  });
});

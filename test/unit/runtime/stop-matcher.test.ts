// Unit tests for StopMatcher: stop strings across delta boundaries, hold-back and release, overlapping candidates,
// unicode, and a seeded property test that streamed output always equals the non-streamed reference.
import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../../src/runtime/stop-matcher.js";

interface Run {
  emits: string[];
  text: string;
  stopped: boolean;
  matched: string | null;
}

/** Feed deltas until one stops; on no stop, flush (as the engine does at EOS or length). */
function run(stop: readonly string[], deltas: readonly string[], includeStopStr = false): Run {
  const m = new StopMatcher({ stop, includeStopStr });
  const emits: string[] = [];
  for (const d of deltas) {
    const r = m.push(d);
    emits.push(r.emit);
    if (r.stopped) return { emits, text: emits.join(""), stopped: true, matched: r.matched };
  }
  emits.push(m.flush());
  return { emits, text: emits.join(""), stopped: false, matched: m.matched };
}

/** Non-streamed reference: the earliest occurrence of any stop string (ties to the longest) truncates the text. */
function reference(text: string, stop: readonly string[], includeStopStr: boolean): { text: string; matched: string | null } {
  let best: { start: number; stop: string } | null = null;
  for (const s of stop) {
    if (s === "") continue;
    const start = text.indexOf(s);
    if (start < 0) continue;
    if (best === null || start < best.start || (start === best.start && s.length > best.stop.length)) best = { start, stop: s };
  }
  if (best === null) return { text, matched: null };
  return { text: text.slice(0, best.start) + (includeStopStr ? best.stop : ""), matched: best.stop };
}

/** mulberry32: a tiny seeded PRNG so property-test failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

describe("StopMatcher: one stop string", () => {
  it("passes deltas straight through without stop strings", () => {
    const m = new StopMatcher({ stop: [], includeStopStr: false });
    expect(m.push("hello")).toEqual({ emit: "hello", stopped: false, matched: null });
    expect(m.push("\ud83d")).toEqual({ emit: "\ud83d", stopped: false, matched: null });
    expect(m.flush()).toBe("");
  });

  it("matches a stop string split across two deltas", () => {
    const m = new StopMatcher({ stop: ["END"], includeStopStr: false });
    expect(m.push("hello E")).toEqual({ emit: "hello ", stopped: false, matched: null });
    expect(m.push("ND and more")).toEqual({ emit: "", stopped: true, matched: "END" });
    expect(m.push("ignored")).toEqual({ emit: "", stopped: true, matched: "END" });
    expect(m.flush()).toBe("");
  });

  it("matches a stop string split across three deltas", () => {
    expect(run(["<|end|>"], ["ok <|", "en", "d|> tail"])).toEqual({ emits: ["ok ", "", ""], text: "ok ", stopped: true, matched: "<|end|>" });
  });

  it("releases held text when a partial prefix stops matching", () => {
    const m = new StopMatcher({ stop: ["STOP"], includeStopStr: false });
    expect(m.push("a ST").emit).toBe("a ");
    expect(m.push("O").emit).toBe("");
    expect(m.push("RM")).toEqual({ emit: "STORM", stopped: false, matched: null });
  });

  it("includes the stop string when asked", () => {
    expect(run(["END"], ["abc E", "NDxyz"], true)).toMatchObject({ text: "abc END", stopped: true, matched: "END" });
  });

  it("stops at the very start", () => {
    const m = new StopMatcher({ stop: ["\n\n"], includeStopStr: false });
    expect(m.push("\n\nrest")).toEqual({ emit: "", stopped: true, matched: "\n\n" });
  });
});

describe("StopMatcher: competing stop strings", () => {
  it("picks the earliest of several stop strings", () => {
    expect(run(["world", "lo"], ["hello world"])).toMatchObject({ text: "hel", matched: "lo" });
    expect(run(["B", "A"], ["xxAyyB"])).toMatchObject({ text: "xx", matched: "A" });
  });

  it("prefers the longer stop string on the same start, waiting to see whether it completes", () => {
    const m = new StopMatcher({ stop: ["ab", "abc"], includeStopStr: true });
    expect(m.push("xab")).toEqual({ emit: "x", stopped: false, matched: null });
    expect(m.push("c!")).toEqual({ emit: "abc", stopped: true, matched: "abc" });
    expect(run(["ab", "abc"], ["xab", "d"])).toMatchObject({ text: "x", matched: "ab" });
  });

  it("settles a held shorter match on flush", () => {
    const m = new StopMatcher({ stop: ["ab", "abc"], includeStopStr: false });
    expect(m.push("xab").emit).toBe("x");
    expect(m.flush()).toBe("");
    expect(m.matched).toBe("ab");
  });

  it("lets an earlier-starting stop string beat one that completes first", () => {
    // "bc" completes at "abc", but "abcd" started earlier and is still live: hold until it resolves.
    expect(run(["abcd", "bc"], ["xabc", "d"])).toMatchObject({ text: "x", matched: "abcd" });
    expect(run(["abcd", "bc"], ["xabc", "e"])).toMatchObject({ text: "xa", matched: "bc" });
  });

  it("finds overlapping self-similar stops (xxy in xxxy)", () => {
    expect(run(["xxy"], ["x", "x", "x", "y", "z"])).toMatchObject({ text: "x", matched: "xxy" });
    expect(run(["aab"], ["aaaa", "ab"])).toMatchObject({ text: "aaa", matched: "aab" });
  });
});

describe("StopMatcher: flush, unicode, bounds", () => {
  it("flushes held text when generation ends for another reason", () => {
    const m = new StopMatcher({ stop: ["###"], includeStopStr: false });
    expect(m.push("done #").emit).toBe("done ");
    expect(m.push("#").emit).toBe("");
    expect(m.flush()).toBe("##");
    expect(m.matched).toBeNull();
  });

  it("handles emoji in text and stop strings without splitting surrogate pairs", () => {
    expect(run(["😀"], ["hi 🙂 ", "😀 bye"])).toMatchObject({ text: "hi 🙂 ", matched: "😀" });
    expect(run(["👍🏽x"], ["ok 👍🏽", "y"])).toMatchObject({ text: "ok 👍🏽y", stopped: false });
    // A delta that ends inside a pair holds the high surrogate back until its partner arrives.
    const m = new StopMatcher({ stop: ["zz"], includeStopStr: false });
    expect(m.push("a\ud83d").emit).toBe("a");
    expect(m.push("\ude00b").emit).toBe("😀b");
  });

  it("ignores empty and duplicate stop strings", () => {
    expect(run(["", "x", "x"], ["abxc"])).toMatchObject({ text: "ab", matched: "x" });
    expect(run([""], ["abc"])).toMatchObject({ text: "abc", stopped: false });
  });

  it("keeps held-back text bounded by the longest stop string", () => {
    const m = new StopMatcher({ stop: ["abcdef"], includeStopStr: false });
    let emitted = 0;
    for (let i = 0; i < 1000; i++) emitted += m.push("abcde"[i % 5] ?? "").emit.length;
    expect(1000 - emitted).toBeLessThan(6);
  });
});

describe("StopMatcher: property", () => {
  it("equals the non-streamed reference on randomized splits (property)", () => {
    const rand = prng(0x10c0);
    const symbols = ["a", "b", "😀", "x", " ", "é", "👍🏽", "y"];
    for (let c = 0; c < 600; c++) {
      // Small alphabets make overlapping and competing stop strings common; larger ones mix in unicode.
      const alphabet = symbols.slice(0, 2 + Math.floor(rand() * 7));
      const pick = (): string => alphabet[Math.floor(rand() * alphabet.length)] ?? "a";
      const word = (n: number): string => Array.from({ length: n }, pick).join("");
      const text = word(1 + Math.floor(rand() * 40));
      const stop = Array.from({ length: Math.floor(rand() * 4) }, () => word(1 + Math.floor(rand() * 4)));
      const include = rand() < 0.5;
      const deltas: string[] = [];
      // Split at arbitrary UTF-16 offsets, even inside surrogate pairs, to exercise the hold-back rule.
      for (let i = 0; i < text.length;) {
        const n = 1 + Math.floor(rand() * 5);
        deltas.push(text.slice(i, i + n));
        i += n;
      }
      const got = run(stop, deltas, include);
      const want = reference(text, stop, include);
      const label = JSON.stringify({ c, text, stop, deltas, include });
      expect(got.text, label).toBe(want.text);
      expect(got.matched, label).toBe(want.matched);
      if (stop.some((s) => s !== "")) expect(got.emits.some(hasLoneSurrogate), label).toBe(false);
    }
  });
});

// safeCuts / tokenizeAtCuts / cuttableSpecials without a model: a toy tokenizer that splits at special texts the way
// llama.cpp does (longest special first), so cut and whole tokenizations can be compared exactly.
import { describe, expect, it } from "vitest";
import { cuttableSpecials, safeCuts, tokenizeAtCuts, type SpecialPiece } from "../../../src/runtime/special-token-cuts.js";

const SPECIALS = ["<s>", "</s>", "<|a|>", "|a|"];
const ids = new Map(SPECIALS.map((s, i) => [s, 1000 + i]));

/** llama.cpp's partition in miniature: longest specials first, leftmost non-overlapping; raw text → char codes. */
function toyTokenize(text: string): number[] {
  let fragments: (string | number)[] = [text];
  for (const sp of [...SPECIALS].sort((a, b) => b.length - a.length)) {
    fragments = fragments.flatMap((f) => {
      if (typeof f === "number") return [f];
      const out: (string | number)[] = [];
      let rest = f;
      for (let i = rest.indexOf(sp); i >= 0; i = rest.indexOf(sp)) {
        if (i > 0) out.push(rest.slice(0, i));
        out.push(ids.get(sp) as number);
        rest = rest.slice(i + sp.length);
      }
      if (rest !== "") out.push(rest);
      return out;
    });
  }
  return fragments.flatMap((f) => (typeof f === "number" ? [f] : [...f].map((c) => c.charCodeAt(0))));
}

const pieces: SpecialPiece[] = SPECIALS.map((text) => ({ text, cuttable: true }));

describe("safeCuts", () => {
  it("cuts after lone special tokens, at least minChunk apart, never at the end", () => {
    const text = "ab<s>cd<s>ef<s>";
    expect(safeCuts(text, pieces, 1)).toEqual([5, 10]);
    expect(safeCuts(text, pieces, 6)).toEqual([10]);
    expect(safeCuts("plain text", pieces, 1)).toEqual([]);
  });

  it("never cuts after an occurrence another special token overlaps (its match depends on the order tried)", () => {
    // "|a|" lies inside "<|a|>": neither is cut after (the rule is conservative), a lone "|a|" is.
    expect(safeCuts("x<|a|>y", pieces, 1)).toEqual([]);
    expect(safeCuts("x|a|y<|a|>", pieces, 1)).toEqual([4]);
    // Overlapping occurrences of one token ("<s>" twice cannot overlap, but "|a|a|" holds two overlapping "|a|").
    expect(safeCuts("x|a|a|y", pieces, 1)).toEqual([]);
  });

  it("gives the whole text's tokens when each piece is tokenized alone", () => {
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const parts = [...SPECIALS, "a", "|", "<", ">", "s", " ", "/"];
    for (let c = 0; c < 200; c++) {
      let text = "";
      while (text.length < 300) text += parts[Math.floor(rnd() * parts.length)];
      const cuts = safeCuts(text, pieces, 1 + Math.floor(rnd() * 20));
      expect(tokenizeAtCuts(text, cuts, (piece) => toyTokenize(piece))).toEqual(toyTokenize(text));
    }
  });

  it("scales linearly: 300,000 chars of special text are cut into small pieces", () => {
    const text = "<s>".repeat(100_000);
    const cuts = safeCuts(text, pieces, 2048);
    expect(cuts.length).toBeGreaterThan(100);
    expect(Math.max(...cuts.map((c, i) => c - (cuts[i - 1] ?? 0)))).toBeLessThan(2048 + 3);
  });
});

describe("tokenizeAtCuts", () => {
  it("passes first=true to the first piece only (BOS)", () => {
    const firsts: boolean[] = [];
    tokenizeAtCuts("a<s>b<s>c", [4, 8], (_, first) => (firsts.push(first), []));
    expect(firsts).toEqual([true, false, false]);
  });
});

describe("cuttableSpecials", () => {
  it("refuses tokens that eat the whitespace after them, that are not one token, or that have edge whitespace", () => {
    // A tokenizer where "</s>" strips the whitespace after it (as rstrip tokens do) and "<x>" is not special.
    const tok = (text: string): number[] => toyTokenize(text.replace(/<\/s>\s+/g, "</s>"));
    const got = cuttableSpecials(["<s>", "</s>", "<x>", " <s>"], tok);
    expect(got.map((p) => p.cuttable)).toEqual([true, false, false, false]);
  });
});

// Unit tests for IncrementalDetokenizer with fake detokenizers: a byte-level one (token = one UTF-8 byte) and a
// SentencePiece-like one ("▁word" renders " word" except at the start of the decoded range, plus byte fallback).
// The rule under test: the concatenation of every push() and flush() equals detokenize(allTokens).
import { describe, expect, it } from "vitest";
import { type DetokenizeFn, IncrementalDetokenizer } from "../../../src/runtime/incremental-detokenizer.js";

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const bytes = (s: string): number[] => [...new TextEncoder().encode(s)];
const byteDetok: DetokenizeFn = (tokens) => decoder.decode(Uint8Array.from(tokens));

/** SentencePiece-like vocabulary: ids < 256 are byte-fallback tokens, the rest are text pieces. */
const PIECES = ["▁Hello", "▁world", "!", "▁", "foo", "▁the", "▁cat", "s", "é", "\n", "▁ü"];
const piece = (p: string): number => 256 + PIECES.indexOf(p);
const spDetok: DetokenizeFn = (tokens) => {
  const out: number[] = [];
  for (const t of tokens) out.push(...(t < 256 ? [t] : bytes((PIECES[t - 256] ?? "").replace(/▁/g, " "))));
  const text = decoder.decode(Uint8Array.from(out));
  // Like SentencePiece, the space marker of the first piece in the range is dropped.
  const first = tokens[0];
  return first !== undefined && first >= 256 && text.startsWith(" ") ? text.slice(1) : text;
};

function stream(detok: DetokenizeFn, tokens: readonly number[], contextTokens?: number): { emits: string[]; text: string } {
  const d = new IncrementalDetokenizer(detok, contextTokens === undefined ? undefined : { contextTokens });
  const emits = tokens.map((t) => d.push(t));
  emits.push(d.flush());
  const text = emits.join("");
  expect(d.emittedLength).toBe(text.length);
  return { emits, text };
}

/** mulberry32: seeded so property failures reproduce. */
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

describe("IncrementalDetokenizer (byte-level)", () => {
  it("emits ASCII token by token", () => {
    expect(stream(byteDetok, bytes("hi!")).emits).toEqual(["h", "i", "!", ""]);
  });

  it("holds a 2-byte character until its last byte", () => {
    expect(stream(byteDetok, bytes("aé")).emits).toEqual(["a", "", "é", ""]);
  });

  it("holds 3- and 4-byte characters (euro sign, emoji)", () => {
    expect(stream(byteDetok, bytes("€")).emits).toEqual(["", "", "€", ""]);
    expect(stream(byteDetok, bytes("😀x")).emits).toEqual(["", "", "", "😀", "x", ""]);
  });

  it("reproduces mixed multilingual text exactly", () => {
    const text = "naïve café — 日本語 👍🏽 ok\n€100";
    for (const ctx of [1, 2, 4, 8]) expect(stream(byteDetok, bytes(text), ctx).text).toBe(text);
  });
});

describe("IncrementalDetokenizer (byte-level): invalid bytes and bounds", () => {
  it("flushes an incomplete character as U+FFFD, as the detokenizer renders it", () => {
    const tokens = [...bytes("ab"), 0xe2, 0x82];
    const { emits, text } = stream(byteDetok, tokens);
    expect(emits.at(-1)).toBe("\uFFFD");
    expect(text).toBe(byteDetok(tokens));
  });

  it("passes invalid bytes through as U+FFFD once later text arrives", () => {
    const tokens = [0x61, 0xff, 0x62, 0x80, 0x80, 0x63];
    expect(stream(byteDetok, tokens).text).toBe(byteDetok(tokens));
  });

  it("releases a long run of invalid bytes instead of holding it forever", () => {
    const d = new IncrementalDetokenizer(byteDetok);
    const out = Array.from({ length: 30 }, () => d.push(0xff)).join("");
    expect(out.length).toBeGreaterThan(0);
    expect(out + d.push(0x61) + d.flush()).toBe(`${"\uFFFD".repeat(30)}a`);
  });

  it("decodes O(context) tokens per push, not the whole history", () => {
    let widest = 0;
    const counting: DetokenizeFn = (tokens) => {
      widest = Math.max(widest, tokens.length);
      return byteDetok(tokens);
    };
    const text = "lorem ipsum ☃ ".repeat(500);
    expect(stream(counting, bytes(text), 4).text).toBe(text);
    expect(widest).toBeLessThanOrEqual(4 + 4);
  });
});

describe("IncrementalDetokenizer: lifecycle", () => {
  it("flush is empty when nothing is held, and push after flush continues", () => {
    const d = new IncrementalDetokenizer(byteDetok);
    expect(d.flush()).toBe("");
    expect(d.push(0x41)).toBe("A");
    expect(d.flush()).toBe("");
    expect(d.emittedLength).toBe(1);
  });

  it("rejects a context below one token", () => {
    expect(() => new IncrementalDetokenizer(byteDetok, { contextTokens: 0 })).toThrow(RangeError);
  });
});

describe("IncrementalDetokenizer (SentencePiece-like)", () => {
  it("keeps the space of a word piece that follows other text", () => {
    const tokens = ["▁Hello", "▁world", "!", "▁", "foo"].map(piece);
    const { emits, text } = stream(spDetok, tokens);
    expect(emits).toEqual(["Hello", " world", "!", " ", "foo", ""]);
    expect(text).toBe(spDetok(tokens));
    // Decoding each token alone would lose the spaces: that is why the window keeps left context.
    expect(tokens.map((t) => spDetok([t])).join("")).toBe("Helloworld!foo");
  });

  it("drops the leading space of the very first piece, exactly as detokenize(all) does", () => {
    const tokens = ["▁the", "▁cat", "s"].map(piece);
    expect(stream(spDetok, tokens, 1).text).toBe("the cats");
    expect(spDetok(tokens)).toBe("the cats");
  });

  it("handles byte-fallback tokens between word pieces", () => {
    const tokens = [piece("▁the"), ...bytes(" 😀"), piece("▁cat"), 0xc3, 0xa9, piece("!")];
    const { emits, text } = stream(spDetok, tokens, 2);
    expect(emits).toEqual(["the", " ", "", "", "", "😀", " cat", "", "é", "!", ""]);
    expect(text).toBe(spDetok(tokens));
  });
});

describe("IncrementalDetokenizer (SentencePiece-like): property", () => {
  it("equals detokenize(allTokens) on random token streams (property)", () => {
    const rand = prng(0x5eed);
    // Units are whole characters (a piece or a complete byte group), plus rare stray bytes.
    const units: number[][] = [...PIECES.map((p) => [piece(p)]), bytes("€"), bytes("😀"), bytes("ß"), bytes(" "), [0xff], [0x80]];
    for (let c = 0; c < 300; c++) {
      const tokens = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => units[Math.floor(rand() * units.length)] ?? []).flat();
      const ctx = 1 + Math.floor(rand() * 6);
      expect(stream(spDetok, tokens, ctx).text, JSON.stringify({ c, tokens, ctx })).toBe(spDetok(tokens));
    }
  });
});

describe("IncrementalDetokenizer: a vocabulary that cleans up spaces (Llama-3 BPE: ' ,' renders ',')", () => {
  const WORDS = ["376", " ", ",", '"b"', ":"];
  const cleanDetok: DetokenizeFn = (tokens) =>
    tokens
      .map((t) => WORDS[t] ?? "")
      .join("")
      .replace(/ ([,.:])/g, "$1");

  it("never drops the character whose token rewrote the text before it", () => {
    const { text } = stream(cleanDetok, [0, 1, 2, 3, 4]);
    // Each generated token's text is kept (what a grammar matched, token by token).
    expect(text).toBe('376 ,"b":');
  });
});

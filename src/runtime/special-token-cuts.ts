// Linear-time tokenization of long texts full of special-token text. llama.cpp splits a text at special tokens
// before tokenizing (tokenizer_st_partition): for each special token type it searches every fragment, scanning to
// the end of the whole text, so the cost grows with (special tokens in the text) × (text length): 100,000 chars of
// `<s>` took 3.3 s, 200,000 chars ~10 s. Cutting the text after a special token that llama.cpp would certainly split
// at, and tokenizing the pieces one by one, gives the same ids in time linear in the text. Pure: no model here.

/** A special token's text, and whether a cut right after it is exact for this vocabulary (see cuttableSpecials). */
export interface SpecialPiece {
  readonly text: string;
  readonly cuttable: boolean;
}

interface Span {
  readonly start: number;
  readonly end: number;
  readonly cuttable: boolean;
}

/**
 * Offsets (ascending, inside the text) after which it may be cut, at least `minChunk` characters apart. A cut is
 * taken only after an occurrence that no other occurrence of any special token overlaps: llama.cpp then matches it
 * whatever order it tries the special tokens in, so it is a fragment boundary of the whole text's tokenization.
 */
export function safeCuts(text: string, specials: readonly SpecialPiece[], minChunk: number): number[] {
  const spans: Span[] = [];
  for (const sp of specials) {
    if (sp.text === "") continue;
    for (let i = text.indexOf(sp.text); i >= 0; i = text.indexOf(sp.text, i + 1)) spans.push({ start: i, end: i + sp.text.length, cuttable: sp.cuttable });
  }
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const cuts: number[] = [];
  let maxEnd = -1;
  let last = 0;
  spans.forEach((s, k) => {
    const next = spans[k + 1];
    const alone = maxEnd <= s.start && (next === undefined || next.start >= s.end);
    maxEnd = Math.max(maxEnd, s.end);
    if (alone && s.cuttable && s.end - last >= minChunk && s.end < text.length) {
      cuts.push(s.end);
      last = s.end;
    }
  });
  return cuts;
}

/** Tokenize piece by piece at the cuts; only the first piece may get BOS. */
export function tokenizeAtCuts(text: string, cuts: readonly number[], tokenize: (piece: string, first: boolean) => number[]): number[] {
  const ids: number[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    for (const id of tokenize(text.slice(from, cut), from === 0)) ids.push(id);
    from = cut;
  }
  return ids;
}

/**
 * Which special tokens a cut after them is exact for, checked against the vocabulary itself: the token must be
 * matched whole, and what follows it must tokenize the same alone as after it (a token that strips the whitespace
 * after it, as some vocabularies mark theirs, fails this). Text starting or ending in whitespace is never cut after.
 */
export function cuttableSpecials(texts: readonly string[], tokenize: (text: string) => number[]): SpecialPiece[] {
  const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  return texts.map((text) => {
    if (text === "" || text.trim() !== text) return { text, cuttable: false };
    const whole = tokenize(`x${text} y`);
    const cut = [...tokenize(`x${text}`), ...tokenize(" y")];
    return { text, cuttable: tokenize(text).length === 1 && same(whole, cut) };
  });
}

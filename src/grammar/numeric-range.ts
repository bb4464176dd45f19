// Numbers inside bounds as GBNF over decimal numerals: integer ranges (split by digit count, then by shared
// prefixes, as regex range generators do) and bounded non-integer numbers (integer part from a range, fraction
// constrained only at the bounds themselves). Exact for integer bounds; exponents are left out when bounded.

import { alt, lit } from "./gbnf.js";
import { GrammarError } from "./grammar-error.js";
import { MAX_FRACTION_DIGITS, MAX_INT_DIGITS } from "./json-primitives.js";

export interface Bound {
  readonly value: number;
  readonly exclusive: boolean;
}

const FRACTION = `( "." [0-9]{1,${MAX_FRACTION_DIGITS}} )?`;
const ZERO_FRACTION = `( "." "0"{1,${MAX_FRACTION_DIGITS}} )?`;
const NONZERO_FRACTION = `"." [0-9]{0,${MAX_FRACTION_DIGITS - 2}} [1-9] [0-9]{0,${MAX_FRACTION_DIGITS - 2}}`;

function seq(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(" ");
}

function digits(n: number): string {
  return n === 0 ? "" : n === 1 ? "[0-9]" : `[0-9]{${n}}`;
}

function digitClass(a: number, b: number): string {
  return a === b ? lit(String(a)) : `[${a}-${b}]`;
}

/** Alternatives matching exactly the numerals of [lo, hi], both of the same length (leading zeros allowed). */
function sameLength(lo: string, hi: string): string[] {
  if (lo.length === 0) return [""];
  if (lo === hi) return [lit(lo)];
  const rest = lo.length - 1;
  const a = Number(lo[0]);
  const b = Number(hi[0]);
  if (a === b) return sameLength(lo.slice(1), hi.slice(1)).map((r) => seq(lit(lo[0] as string), r));
  if (/^0*$/.test(lo.slice(1)) && /^9*$/.test(hi.slice(1))) return [seq(digitClass(a, b), digits(rest))];
  const out = sameLength(lo.slice(1), "9".repeat(rest)).map((r) => seq(lit(lo[0] as string), r));
  if (a + 1 <= b - 1) out.push(seq(digitClass(a + 1, b - 1), digits(rest)));
  out.push(...sameLength("0".repeat(rest), hi.slice(1)).map((r) => seq(lit(hi[0] as string), r)));
  return out;
}

/** Alternatives for the numerals (no leading zeros) of the integers in [lo, hi]; hi null: up to MAX_INT_DIGITS digits. */
export function naturalRange(lo: bigint, hi: bigint | null): string[] {
  if (lo < 0n) throw new Error("naturalRange: lo < 0");
  if (hi !== null && hi < lo) return [];
  const loLen = String(lo).length;
  const maxLen = hi === null ? Math.max(MAX_INT_DIGITS, loLen) : String(hi).length;
  const out: string[] = [];
  for (let len = loLen; len <= maxLen; len++) {
    const a = len === loLen ? lo : 10n ** BigInt(len - 1);
    const b = hi !== null && len === maxLen ? hi : 10n ** BigInt(len) - 1n;
    if (a > b) continue;
    if (hi === null && len > loLen) {
      // Every longer numeral is in range: one rule for all remaining lengths.
      out.push(seq("[1-9]", len === maxLen ? digits(len - 1) : `[0-9]{${len - 1},${maxLen - 1}}`));
      break;
    }
    out.push(...sameLength(String(a), String(b)));
  }
  return out;
}

/** JSON integers in [lo, hi] (null: unbounded on that side). */
export function integerRange(lo: bigint | null, hi: bigint | null, path: string): string {
  const alts: string[] = [];
  if (lo !== null && hi !== null && lo > hi) throw new GrammarError(path, `no integer lies in [${lo}, ${hi}]`);
  if (hi === null || hi >= 0n) alts.push(...naturalRange(lo !== null && lo > 0n ? lo : 0n, hi));
  if (lo === null || lo < 0n) {
    const magLo = hi !== null && hi < 0n ? -hi : 1n;
    const magHi = lo === null ? null : -lo;
    alts.push(...naturalRange(magLo, magHi).map((r) => seq('"-"', r)));
  }
  return alt(alts);
}

interface IntBound {
  readonly value: bigint;
  readonly exclusive: boolean;
}

function toIntBound(b: Bound | null, path: string, keyword: string): IntBound | null {
  if (b === null) return null;
  if (!Number.isInteger(b.value)) {
    throw new GrammarError(path, `${keyword} ${b.value} on a "number" is not supported: only integer bounds can be enforced`);
  }
  return { value: BigInt(b.value), exclusive: b.exclusive };
}

/** Non-negative decimals m with lower ≤ m ≤ upper (bounds are non-negative integers; null: none). */
function magnitude(lower: IntBound | null, upper: IntBound | null): string[] {
  const out: string[] = [];
  const kLo = lower === null ? 0n : lower.exclusive ? lower.value + 1n : lower.value;
  const kHi = upper === null ? null : upper.value - 1n;
  if (kHi === null || kLo <= kHi) out.push(...naturalRange(kLo, kHi).map((r) => seq(r, FRACTION)));
  if (lower !== null && lower.exclusive && (upper === null || lower.value < upper.value)) {
    out.push(seq(lit(String(lower.value)), NONZERO_FRACTION));
  }
  if (upper !== null && !upper.exclusive && (lower === null || upper.value > lower.value || !lower.exclusive)) {
    if (lower === null || upper.value >= lower.value) out.push(seq(lit(String(upper.value)), ZERO_FRACTION));
  }
  return out;
}

/** JSON numbers (fractions allowed, no exponent) within integer bounds. */
export function boundedNumber(min: Bound | null, max: Bound | null, path: string): string {
  const lo = toIntBound(min, path, min?.exclusive === true ? "exclusiveMinimum" : "minimum");
  const hi = toIntBound(max, path, max?.exclusive === true ? "exclusiveMaximum" : "maximum");
  const alts: string[] = [];
  if (hi === null || hi.value > 0n || (hi.value === 0n && !hi.exclusive)) {
    alts.push(...magnitude(lo === null || lo.value < 0n ? null : lo, hi));
  }
  if (lo === null || lo.value < 0n) {
    // Negative values by magnitude; strictly positive magnitudes, so "-0" is never produced.
    const magLower: IntBound = hi !== null && hi.value < 0n ? { value: -hi.value, exclusive: hi.exclusive } : { value: 0n, exclusive: true };
    const magUpper: IntBound | null = lo === null ? null : { value: -lo.value, exclusive: lo.exclusive };
    alts.push(...magnitude(magLower, magUpper).map((r) => seq('"-"', r)));
  }
  if (alts.length === 0) throw new GrammarError(path, "no number satisfies these bounds");
  return alt(alts);
}

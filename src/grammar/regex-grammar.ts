// A JSON-schema `pattern` (ECMA-262 regex) as a GBNF expression over the JSON-encoded string content: literals,
// classes (\d \w \s, [...], [^...], .), groups, alternation and quantifiers. Characters a JSON string must escape
// are produced in their escaped form. Backreferences, lookaround, \b and inner anchors cannot be expressed in a
// context-free grammar and are refused. A pattern without ^…$ matches anywhere, so any text may surround it.

import { alt, classChar, lit, repeat } from "./gbnf.js";
import { GrammarError } from "./grammar-error.js";

/** Any character a JSON string may hold unescaped (what `.` and negated classes draw from). */
const SAFE = '"\\\\\\x00-\\x1f\\x7f';

interface ClassSet {
  /** Body of a [...] class (ranges and chars), over characters that need no JSON escape. */
  readonly body: string;
  readonly negated: boolean;
  /** Characters that must appear as JSON escapes, e.g. '"' → \" (only in non-negated classes). */
  readonly escaped: readonly string[];
}

/** What ECMAScript's \s matches beyond ASCII whitespace (as class text; none of it needs a JSON escape). */
const UNICODE_SPACES = "\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

const ESCAPE_CLASSES: Readonly<Record<string, ClassSet>> = {
  d: { body: "0-9", negated: false, escaped: [] },
  D: { body: "0-9", negated: true, escaped: [] },
  w: { body: "a-zA-Z0-9_", negated: false, escaped: [] },
  W: { body: "a-zA-Z0-9_", negated: true, escaped: [] },
  s: { body: ` ${UNICODE_SPACES}`, negated: false, escaped: ["\t", "\n", "\r", "\f", "\v"] },
  S: { body: ` ${UNICODE_SPACES}`, negated: true, escaped: [] },
};

/** How a character of the decoded string is written inside a JSON string literal. */
function jsonEncoded(ch: string): string {
  const encoded = JSON.stringify(ch);
  return encoded.slice(1, -1);
}

function needsJsonEscape(ch: string): boolean {
  return jsonEncoded(ch) !== ch;
}

function renderClass(set: ClassSet): string {
  if (set.negated) return `[^${set.body}${SAFE}]`;
  const parts: string[] = [];
  if (set.body !== "") parts.push(`[${set.body}]`);
  for (const ch of set.escaped) parts.push(lit(jsonEncoded(ch)));
  if (parts.length === 0) throw new GrammarError("", "an empty character class matches nothing");
  return alt(parts);
}

export function patternToGbnf(pattern: string, path: string): string {
  return new RegexParser(pattern, path).parsePattern();
}

class RegexParser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly path: string,
  ) {}

  parsePattern(): string {
    const anchoredStart = this.src.startsWith("^");
    if (anchoredStart) this.pos = 1;
    const body = this.parseAlternation(true);
    const anchoredEnd = this.peek() === "$";
    if (anchoredEnd) this.pos++;
    if (this.pos !== this.src.length) this.fail(`unexpected ${JSON.stringify(this.peek())}`);
    const any = `[^${SAFE}]*`;
    return [anchoredStart ? "" : any, body, anchoredEnd ? "" : any].filter((p) => p !== "").join(" ") || '""';
  }

  private fail(why: string): never {
    throw new GrammarError(this.path, `pattern ${JSON.stringify(this.src)} cannot be enforced: ${why} at offset ${this.pos}`);
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private atEnd(top: boolean): boolean {
    const c = this.peek();
    if (c === undefined) return true;
    if (c === "|" || c === ")") return true;
    // A final $ ends the top-level pattern; anywhere else an anchor cannot be expressed.
    return top && c === "$" && this.pos === this.src.length - 1;
  }

  private parseAlternation(top: boolean): string {
    const options = [this.parseSequence(top)];
    while (this.peek() === "|") {
      this.pos++;
      options.push(this.parseSequence(top));
    }
    return alt(options.map((o) => (o === "" ? '""' : o)));
  }

  private parseSequence(top: boolean): string {
    const items: string[] = [];
    while (!this.atEnd(top)) items.push(this.parseQuantified());
    return items.join(" ");
  }

  private parseQuantified(): string {
    const atom = this.parseAtom();
    const q = this.parseQuantifier();
    if (q === null) return atom;
    if (this.peek() === "?") this.pos++; // lazy: the same language
    return repeat(atom, q.min, q.max);
  }

  private parseQuantifier(): { min: number; max: number | null } | null {
    const c = this.peek();
    if (c === "*") return this.take({ min: 0, max: null });
    if (c === "+") return this.take({ min: 1, max: null });
    if (c === "?") return this.take({ min: 0, max: 1 });
    if (c !== "{") return null;
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
    if (m === null) return null; // a literal "{"
    this.pos += m[0].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? null : Number(m[3]);
    if (max !== null && max < min) this.fail("a {m,n} with n < m");
    return { min, max };
  }

  private take<T>(value: T): T {
    this.pos++;
    return value;
  }

  private parseAtom(): string {
    const c = this.peek() as string;
    if (c === "(") return this.parseGroup();
    if (c === "[") return this.parseClass();
    if (c === ".") return this.take(`[^${SAFE}]`); // controls (newline too) are excluded already
    if (c === "\\") return this.parseEscape();
    if (c === "^" || c === "$") this.fail("an anchor inside the pattern");
    if (c === "*" || c === "+" || c === "?") this.fail("a quantifier with nothing to repeat");
    this.pos++;
    return lit(jsonEncoded(c));
  }

  private parseGroup(): string {
    this.pos++;
    if (this.src.startsWith("?:", this.pos)) this.pos += 2;
    else if (this.src.startsWith("?<", this.pos) && !/^\?<[=!]/.test(this.src.slice(this.pos))) {
      const close = this.src.indexOf(">", this.pos);
      if (close < 0) this.fail("an unterminated group name");
      this.pos = close + 1;
    } else if (this.peek() === "?") this.fail("lookaround");
    const body = this.parseAlternation(false);
    if (this.peek() !== ")") this.fail("an unclosed group");
    this.pos++;
    return body.startsWith("( ") ? body : `( ${body === "" ? '""' : body} )`;
  }

  private parseEscape(): string {
    this.pos++;
    const c = this.peek();
    if (c === undefined) this.fail("a trailing backslash");
    this.pos++;
    const set = ESCAPE_CLASSES[c];
    if (set !== undefined) return renderClass(set);
    const ch = this.escapedChar(c);
    return lit(jsonEncoded(ch));
  }

  /** The character an escape outside a class class stands for (\n, \x41, \u00e9, \. …). */
  private escapedChar(c: string): string {
    if (/[1-9]/.test(c)) this.fail("a backreference");
    if (c === "b" || c === "B") this.fail("a word boundary");
    const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", f: "\f", v: "\v", "0": "\0" };
    if (simple[c] !== undefined) return simple[c];
    if (c === "x" || c === "u") {
      const len = c === "x" ? 2 : 4;
      const hex = this.src.slice(this.pos, this.pos + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail(`a malformed \\${c} escape`);
      this.pos += len;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    if (/[a-zA-Z]/.test(c)) this.fail(`the escape \\${c}`);
    return c;
  }

  private parseClass(): string {
    this.pos++;
    const negated = this.peek() === "^";
    if (negated) this.pos++;
    let body = "";
    const escaped: string[] = [];
    let first = true;
    while (this.peek() !== "]" || first) {
      first = false;
      if (this.peek() === undefined) this.fail("an unclosed character class");
      if (this.peek() === "\\" && ESCAPE_CLASSES[this.src[this.pos + 1] as string] !== undefined) {
        const set = ESCAPE_CLASSES[this.src[this.pos + 1] as string] as ClassSet;
        if (set.negated) this.fail("a negated escape inside a class");
        this.pos += 2;
        body += set.body;
        if (!negated) escaped.push(...set.escaped);
        continue;
      }
      const from = this.classMember();
      if (this.peek() === "-" && this.src[this.pos + 1] !== "]" && this.src[this.pos + 1] !== undefined) {
        this.pos++;
        const to = this.classMember();
        if (to < from) this.fail("a reversed range");
        const part = this.rangeParts(from, to, negated);
        body += part.body;
        escaped.push(...part.escaped);
        continue;
      }
      if (needsJsonEscape(from)) {
        // Negated: the SAFE exclusions already keep it out; otherwise it appears in its escaped form.
        if (!negated) escaped.push(from);
        continue;
      }
      body += classChar(from);
    }
    this.pos++;
    return renderClass({ body, negated, escaped });
  }

  /**
   * A range as class text. A negated class already leaves out what JSON escapes (SAFE); otherwise `"` and `\`
   * inside the range are cut out of it and offered in their escaped form, and control characters are refused.
   */
  private rangeParts(from: string, to: string, negated: boolean): { body: string; escaped: string[] } {
    const lo = from.codePointAt(0) as number;
    const hi = to.codePointAt(0) as number;
    if (negated) return { body: `${classChar(from)}-${classChar(to)}`, escaped: [] };
    if (lo < 0x20 || (lo <= 0x7f && hi >= 0x7f)) this.fail("a range over control characters");
    const cuts = [0x22, 0x5c].filter((c) => c >= lo && c <= hi);
    const pieces: string[] = [];
    let start = lo;
    for (const c of [...cuts, hi + 1]) {
      if (start <= c - 1) {
        const a = String.fromCodePoint(start);
        const b = String.fromCodePoint(c - 1);
        pieces.push(start === c - 1 ? classChar(a) : `${classChar(a)}-${classChar(b)}`);
      }
      start = c + 1;
    }
    return { body: pieces.join(""), escaped: cuts.map((c) => String.fromCodePoint(c)) };
  }

  private classMember(): string {
    const c = this.peek() as string;
    this.pos++;
    if (c !== "\\") return c;
    const e = this.peek();
    if (e === undefined) this.fail("a trailing backslash");
    this.pos++;
    if (e === "b") return "\b";
    return this.escapedChar(e);
  }
}

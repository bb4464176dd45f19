// GBNF text building blocks (llama.cpp's grammar format): literals, character classes and a rule set with unique
// names. Pure; the JSON-schema compiler and the tool-call grammars write grammars through these only, so escaping
// lives in one place.

/** A GBNF string literal for `text`: quotes, backslashes and control characters escaped. */
export function lit(text: string): string {
  let out = '"';
  for (const ch of text) out += escapeChar(ch, '"\\');
  return out + '"';
}

/** One character inside a [...] class: the class's own metacharacters escaped. */
export function classChar(ch: string): string {
  return escapeChar(ch, "]\\-^[");
}

function escapeChar(ch: string, special: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (ch === "\n") return "\\n";
  if (ch === "\t") return "\\t";
  if (ch === "\r") return "\\r";
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (special.includes(ch)) return `\\x${code.toString(16).padStart(2, "0")}`;
  return ch;
}

/** `a | b | c` as one group (a single alternative stays bare). */
export function alt(options: readonly string[]): string {
  const unique = [...new Set(options)];
  if (unique.length === 0) throw new Error("alt() of nothing");
  return unique.length === 1 ? (unique[0] as string) : `( ${unique.join(" | ")} )`;
}

/** `x{min,max}` (max null: unbounded), written the short way where one exists. */
export function repeat(expr: string, min: number, max: number | null): string {
  const e = needsGroup(expr) ? `( ${expr} )` : expr;
  if (max === null) return min === 0 ? `${e}*` : min === 1 ? `${e}+` : `${e}{${min},}`;
  if (max === 0) return '""';
  if (min === max) return min === 1 ? e : `${e}{${min}}`;
  if (min === 0 && max === 1) return `${e}?`;
  return `${e}{${min},${max}}`;
}

/** Whether an expression must be parenthesized before a repetition operator binds to it. */
function needsGroup(expr: string): boolean {
  if (/^[A-Za-z0-9-]+$/.test(expr)) return false; // a rule name
  if (/^"(?:[^"\\]|\\.)*"$/.test(expr)) return false; // one literal
  if (/^\[(?:[^\]\\]|\\.)*\]$/.test(expr)) return false; // one class
  if (expr.startsWith("( ") && expr.endsWith(" )") && balancedGroup(expr)) return false;
  return true;
}

/** "( … )" whose opening parenthesis closes at its last character (not "( a ) ( b )"). */
function balancedGroup(expr: string): boolean {
  let depth = 0;
  let inLiteral = false;
  let inClass = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inLiteral) inLiteral = c !== '"';
    else if (inClass) inClass = c !== "]";
    else if (c === '"') inLiteral = true;
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0 && i !== expr.length - 1) return false;
  }
  return depth === 0;
}

/** GBNF rule names are [A-Za-z0-9-]. */
export function ruleName(hint: string): string {
  const name = hint.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
  return name === "" ? "r" : name;
}

/** A grammar under construction: named rules, each defined once, names made unique. */
export class GrammarBuilder {
  private readonly rules = new Map<string, string>();

  has(name: string): boolean {
    return this.rules.has(name);
  }

  /** Defines `name` (once: a second definition of the same name must be identical) and returns the name. */
  define(name: string, body: string): string {
    const existing = this.rules.get(name);
    if (existing !== undefined && existing !== "" && existing !== body) throw new Error(`GBNF rule ${name} defined twice`);
    this.rules.set(name, body);
    return name;
  }

  /** A fresh name from a hint ("obj" → "obj", then "obj-2", …), reserved until defined. */
  fresh(hint: string): string {
    const base = ruleName(hint);
    let name = base;
    for (let i = 2; this.rules.has(name) || name === "root"; i++) name = `${base}-${i}`;
    this.rules.set(name, "");
    return name;
  }

  get size(): number {
    let n = 0;
    for (const [name, body] of this.rules) n += name.length + body.length + 6;
    return n;
  }

  /** The grammar text with `root` first. */
  render(root: string): string {
    const lines = [`root ::= ${root}`];
    for (const [name, body] of this.rules) {
      if (body === "") throw new Error(`GBNF rule ${name} reserved but never defined`);
      lines.push(`${name} ::= ${body}`);
    }
    return lines.join("\n") + "\n";
  }
}

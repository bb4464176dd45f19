// Stop-string matching on streamed, detokenized text. Owns the hold-back rule that makes the concatenation of
// every streamed `emit` (plus `flush()`) equal the non-streamed text: the text before the first stop string
// (earliest start, ties to the longest), followed by that stop string only when includeStopStr is set.
// One Knuth-Morris-Pratt automaton per stop string keeps each push O(delta length × stops).

export interface StopMatcherOptions {
  stop: readonly string[];
  includeStopStr: boolean;
}

export interface StopMatchResult {
  /** text safe to emit now */
  emit: string;
  /** true when a stop string matched: generation ends, emit is final */
  stopped: boolean;
  /** which stop string matched */
  matched: string | null;
}

/** A complete occurrence of a stop string, in absolute UTF-16 offsets of the whole generated text. */
interface Candidate {
  readonly start: number;
  readonly stop: string;
}

/** One stop string's matcher. `state` = length of the longest prefix of `stop` that is a suffix of the text so far. */
interface Automaton {
  readonly stop: string;
  /** KMP failure table: fail[k] = longest proper border of stop[0:k]. */
  readonly fail: Int32Array;
  state: number;
}

function failureTable(s: string): Int32Array {
  const fail = new Int32Array(s.length + 1);
  let k = 0;
  for (let i = 1; i < s.length; i++) {
    while (k > 0 && s.charCodeAt(i) !== s.charCodeAt(k)) k = fail[k] ?? 0;
    if (s.charCodeAt(i) === s.charCodeAt(k)) k++;
    fail[i + 1] = k;
  }
  return fail;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Earliest start wins; on the same start the longer stop string wins (it contains the shorter one). */
function better(a: Candidate, b: Candidate | null): boolean {
  if (b === null) return true;
  return a.start < b.start || (a.start === b.start && a.stop.length > b.stop.length);
}

export class StopMatcher {
  private readonly automata: Automaton[];
  private readonly includeStopStr: boolean;
  /** Text received but not yet emitted; it starts at absolute offset `pendingStart`. */
  private pending = "";
  private pendingStart = 0;
  /** Best complete match seen so far that a longer or earlier one might still beat. */
  private candidate: Candidate | null = null;
  private done: Candidate | null = null;

  constructor(opts: StopMatcherOptions) {
    // An empty stop string would match everywhere; OpenAI-style APIs ignore it, and duplicates add nothing.
    const unique = [...new Set(opts.stop)].filter((s) => s.length > 0);
    this.automata = unique.map((stop) => ({ stop, fail: failureTable(stop), state: 0 }));
    this.includeStopStr = opts.includeStopStr;
  }

  /** The stop string that ended the text, also when flush() settled a match that was still being held. */
  get matched(): string | null {
    return this.done?.stop ?? null;
  }

  push(delta: string): StopMatchResult {
    if (this.done !== null) return { emit: "", stopped: true, matched: this.done.stop };
    if (this.automata.length === 0) return { emit: delta, stopped: false, matched: null };
    const base = this.pendingStart + this.pending.length;
    this.pending += delta;
    this.scan(delta, base);
    const end = this.pendingStart + this.pending.length;
    const liveStart = end - this.longestPartial(this.candidate);
    if (this.candidate !== null && liveStart >= end) return this.finish(this.candidate);
    const holdFrom = this.candidate === null ? liveStart : Math.min(liveStart, this.candidate.start);
    return { emit: this.release(holdFrom), stopped: false, matched: null };
  }

  flush(): string {
    if (this.done !== null) return "";
    // No more text will come, so a held complete match can no longer be beaten, and held prefixes never complete.
    if (this.candidate !== null) return this.finish(this.candidate).emit;
    const rest = this.pending;
    this.pendingStart += rest.length;
    this.pending = "";
    return rest;
  }

  /** Run every automaton over the new text, keeping the best complete match (absolute offsets from `base`). */
  private scan(delta: string, base: number): void {
    for (const a of this.automata) {
      const len = a.stop.length;
      let q = a.state;
      for (let i = 0; i < delta.length; i++) {
        const c = delta.charCodeAt(i);
        while (q > 0 && a.stop.charCodeAt(q) !== c) q = a.fail[q] ?? 0;
        if (a.stop.charCodeAt(q) === c) q++;
        if (q === len) {
          const found = { start: base + i + 1 - len, stop: a.stop };
          if (better(found, this.candidate)) this.candidate = found;
          q = a.fail[q] ?? 0;
        }
      }
      a.state = q;
    }
  }

  /**
   * Length of the longest partial (a suffix of the text that is a proper prefix of a stop string) that could still
   * matter: with a candidate, only partials that would beat it if they completed; otherwise any partial.
   * The KMP state is each stop's earliest-starting live partial, so checking it alone is enough.
   */
  private longestPartial(candidate: Candidate | null): number {
    const end = this.pendingStart + this.pending.length;
    let longest = 0;
    for (const a of this.automata) {
      if (a.state === 0) continue;
      if (candidate !== null && !better({ start: end - a.state, stop: a.stop }, candidate)) continue;
      longest = Math.max(longest, a.state);
    }
    return longest;
  }

  /** Emit pending text before absolute offset `holdFrom`, never cutting a surrogate pair. */
  private release(holdFrom: number): string {
    let cut = holdFrom - this.pendingStart;
    if (cut > 0 && isHighSurrogate(this.pending.charCodeAt(cut - 1))) cut--;
    const emit = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    this.pendingStart += cut;
    return emit;
  }

  private finish(match: Candidate): StopMatchResult {
    const before = this.pending.slice(0, match.start - this.pendingStart);
    this.done = match;
    this.candidate = null;
    this.pendingStart += this.pending.length;
    this.pending = "";
    return { emit: this.includeStopStr ? before + match.stop : before, stopped: true, matched: match.stop };
  }
}

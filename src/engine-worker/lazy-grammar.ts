// Arms tool_choice auto's calls grammar when the free text writes the call marker, as llama.cpp's lazy grammars do:
// until then the reply is sampled without any grammar (no cost per token), from then on only well-formed calls of
// the offered tools can follow. The grammar reads the text from the marker's first character (the executor feeds it
// through single-character tokens before its first sample).

import type { LazyGrammar } from "../chat/output-grammar.js";

export class LazyGrammarWatcher {
  /** Text not yet ruled out: the end of the text that could still begin the marker (or, anchored, the leading whitespace). */
  private window = "";
  private done = false;

  constructor(readonly spec: LazyGrammar) {}

  /**
   * The next piece of output text. Returns the text the grammar must read (from the marker on) when this piece
   * completes the marker, else null. `complete`: the detokenizer holds no partial character back (the grammar must
   * read exactly the bytes the model produced, so arming waits for it). After it has armed, or ruled calls out
   * (anchored), it stays quiet.
   */
  push(text: string, complete: boolean): string | null {
    if (this.done) return null;
    const seen = this.window + text;
    if (this.spec.anchored) {
      const start = seen.length - seen.trimStart().length;
      if (start === seen.length) {
        this.window = seen;
        return null;
      }
      if (!seen.startsWith(this.spec.marker, start)) {
        this.done = true;
        return null;
      }
      return this.arm(seen.slice(start), complete);
    }
    const at = seen.indexOf(this.spec.marker);
    if (at >= 0) return this.arm(seen.slice(at), complete);
    this.window = seen.slice(Math.max(0, seen.length - (this.spec.marker.length - 1)));
    return null;
  }

  /** From the marker on; while a character is split, wait for the piece that completes it. */
  private arm(fromMarker: string, complete: boolean): string | null {
    if (!complete) {
      this.window = fromMarker;
      return null;
    }
    this.done = true;
    return fromMarker;
  }
}

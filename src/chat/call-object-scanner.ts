// Scans one tool call's JSON object as it streams in, character by character: which top-level key is being read,
// where each top-level value starts and ends. The tool-call parser streams the arguments value as slices of the
// generated text while it is still open (and the name came first), so nothing is ever re-serialized.

export type ScanEvent =
  /** A top-level value finished; `text` is its exact source text. */
  | { readonly kind: "value"; readonly key: string; readonly text: string }
  /** The object closed. */
  | { readonly kind: "end" };

type Phase = "open" | "key" | "colon" | "value" | "comma" | "done";

export class CallObjectScanner {
  private phase: Phase = "open";
  private depth = 0;
  private inString = false;
  private escaped = false;
  private keyText = "";
  private valueText = "";
  /** The top-level key whose value is being read (null between values). */
  key: string | null = null;
  /** Set when the text cannot be a JSON object. */
  failed = false;

  get done(): boolean {
    return this.phase === "done";
  }

  /** Whether `ch` (just pushed) is part of the value of the current key. */
  inValue = false;

  /** Feeds one character; returns what it completed, if anything. */
  push(ch: string): ScanEvent | null {
    this.inValue = false;
    if (this.failed || this.phase === "done") return null;
    switch (this.phase) {
      case "open":
        if (/\s/.test(ch)) return null;
        if (ch !== "{") return this.fail();
        this.phase = "key";
        return null;
      case "key":
        return this.pushKey(ch);
      case "colon":
        if (/\s/.test(ch)) return null;
        if (ch !== ":") return this.fail();
        this.phase = "value";
        this.valueText = "";
        return null;
      case "value":
        return this.pushValue(ch);
      case "comma":
        if (/\s/.test(ch)) return null;
        if (ch === ",") {
          this.phase = "key";
          return null;
        }
        if (ch === "}") return this.close();
        return this.fail();
    }
  }

  private fail(): null {
    this.failed = true;
    return null;
  }

  private close(): ScanEvent {
    this.phase = "done";
    return { kind: "end" };
  }

  private pushKey(ch: string): ScanEvent | null {
    if (!this.inString) {
      if (/\s/.test(ch)) return null;
      if (ch === "}" && this.keyText === "") return this.close();
      if (ch !== '"') return this.fail();
      this.inString = true;
      this.keyText = '"';
      return null;
    }
    this.keyText += ch;
    if (this.escaped) this.escaped = false;
    else if (ch === "\\") this.escaped = true;
    else if (ch === '"') {
      this.inString = false;
      try {
        this.key = JSON.parse(this.keyText) as string;
      } catch {
        return this.fail();
      }
      this.keyText = "";
      this.phase = "colon";
    }
    return null;
  }

  private pushValue(ch: string): ScanEvent | null {
    if (this.valueText === "" && /\s/.test(ch)) return null;
    if (this.depth === 0 && !this.inString && this.valueText !== "" && (ch === "," || ch === "}" || /\s/.test(ch))) {
      // A scalar (number, true, false, null) ends at the first delimiter.
      const event = this.endValue();
      if (ch === ",") this.phase = "key";
      else if (ch === "}") this.phase = "done";
      return ch === "}" ? (this.queueEnd(event) as ScanEvent) : event;
    }
    this.valueText += ch;
    this.inValue = true;
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (ch === "\\") this.escaped = true;
      else if (ch === '"') {
        this.inString = false;
        if (this.depth === 0) return this.endValue();
      }
      return null;
    }
    if (ch === '"') this.inString = true;
    else if (ch === "{" || ch === "[") this.depth++;
    else if (ch === "}" || ch === "]") {
      this.depth--;
      if (this.depth < 0) return this.fail();
      if (this.depth === 0) return this.endValue();
    }
    return null;
  }

  /** A scalar ended by "}": its value event now, the end event on the next read. */
  private pendingEnd = false;

  private queueEnd(event: ScanEvent): ScanEvent {
    this.pendingEnd = true;
    return event;
  }

  /** The end event a scalar's closing "}" produced after its value event. */
  takePendingEnd(): ScanEvent | null {
    if (!this.pendingEnd) return null;
    this.pendingEnd = false;
    return { kind: "end" };
  }

  private endValue(): ScanEvent {
    const event: ScanEvent = { kind: "value", key: this.key ?? "", text: this.valueText };
    if (this.phase === "value") this.phase = "comma";
    this.key = null;
    this.valueText = "";
    return event;
  }
}

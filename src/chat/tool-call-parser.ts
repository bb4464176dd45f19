// Tool calls out of a model's streamed text, for one response, in the family's syntax (tool-syntax.ts). Content
// before (and after) the calls passes through; text that could still turn into a call marker is held back until it
// cannot. A call's name is announced as soon as it is read; its arguments stream as slices of the generated text
// while they are open (when the name came first, as every template writes it), or whole when the call closes.
// Malformed call text falls back to content, so nothing the model wrote is lost.

import { CallObjectScanner, type ScanEvent } from "./call-object-scanner.js";
import type { ToolSyntax } from "./tool-syntax.js";

export type ParsedPiece =
  | { readonly kind: "content"; readonly text: string }
  /** A call begins: its index among this response's calls, id and function name. */
  | { readonly kind: "call"; readonly index: number; readonly id: string; readonly name: string }
  /** The next slice of that call's arguments (JSON text; concatenated, the whole arguments object). */
  | { readonly kind: "arguments"; readonly index: number; readonly text: string };

type State = "start" | "content" | "object" | "after" | "between" | "text";

const PYTHON_TAG = "<|python_tag|>";

export class ToolCallParser {
  private state: State = "start";
  private buf = "";
  private out: ParsedPiece[] = [];
  private calls = 0;
  private scanner = new CallObjectScanner();
  /** The current call's raw text (for the fallback to content) and what was learnt of it. */
  private raw = "";
  private name: string | null = null;
  private announced = false;
  private argsSeen = false;
  private argsBuffered = "";
  private expectArray = false;
  private readonly marker: string;

  constructor(
    private readonly syntax: ToolSyntax,
    private readonly newId: () => string,
  ) {
    // Matched without its surrounding whitespace, so a model's spacing does not hide a call.
    this.marker = syntax.marker;
  }

  get callCount(): number {
    return this.calls;
  }

  push(text: string): ParsedPiece[] {
    this.buf += text;
    this.run(false);
    return this.take();
  }

  /** The output ended: whatever is held back is content (or an unfinished call's arguments). */
  end(): ParsedPiece[] {
    this.run(true);
    if (this.state === "object" && this.raw !== "") {
      if (this.announced) this.emitArgs(this.argsBuffered);
      else this.content(this.raw);
    }
    if (this.buf !== "") this.content(this.buf);
    this.buf = "";
    return this.take();
  }

  private take(): ParsedPiece[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private content(text: string): void {
    if (text === "") return;
    const last = this.out.at(-1);
    if (last?.kind === "content") this.out[this.out.length - 1] = { kind: "content", text: last.text + text };
    else this.out.push({ kind: "content", text });
  }

  private run(final: boolean): void {
    for (let progressed = true; progressed;) progressed = this.stepState(final);
  }

  /** One transition; false when it needs more text. */
  private stepState(final: boolean): boolean {
    switch (this.state) {
      case "start":
        return this.atStart(final);
      case "content":
        return this.inContent(final);
      case "object":
        return this.inObject();
      case "after":
        return this.afterCall(final);
      case "between":
        return this.betweenCalls(final);
      case "text":
        this.content(this.buf);
        this.buf = "";
        return false;
    }
  }

  /** Llama 3 writes a call as the whole reply: a JSON object (or <|python_tag|>) first. Others go to content. */
  private atStart(final: boolean): boolean {
    if (this.syntax.family !== "llama3") return this.go("content");
    const trimmed = this.buf.trimStart();
    if (trimmed === "") return final ? this.go("text") : false;
    if (trimmed.startsWith("{")) return this.openCall(this.buf.length - trimmed.length);
    if (trimmed.startsWith(PYTHON_TAG)) return this.openCall(this.buf.length - trimmed.length + PYTHON_TAG.length);
    if (PYTHON_TAG.startsWith(trimmed) && !final) return false;
    return this.go("text");
  }

  private inContent(final: boolean): boolean {
    if (this.marker === "") return this.go("text"); // Llama 3 calls only open a reply
    const at = this.buf.indexOf(this.marker);
    if (at >= 0) {
      const before = this.buf.slice(0, at);
      const kept = before.trimEnd();
      this.content(kept);
      // The whitespace before a marker belongs to the call (content again only if the call turns out malformed).
      this.buf = before.slice(kept.length) + this.buf.slice(at);
      return this.openCall(before.length - kept.length + this.marker.length);
    }
    if (final) return this.go("text");
    // Held: what could begin the marker, and the whitespace before it (dropped if a call follows).
    let held = heldSuffix(this.buf, this.marker);
    while (held < this.buf.length && /\s/.test(this.buf[this.buf.length - held - 1] as string)) held++;
    this.content(this.buf.slice(0, this.buf.length - held));
    this.buf = this.buf.slice(this.buf.length - held);
    return false;
  }

  /** Consume `skip` characters of the buffer (the marker) and start reading a call object. */
  private openCall(skip: number): boolean {
    this.raw = this.buf.slice(0, skip);
    this.buf = this.buf.slice(skip);
    this.expectArray = this.syntax.family === "mistral" && this.calls === 0;
    this.scanner = new CallObjectScanner();
    this.name = null;
    this.announced = false;
    this.argsSeen = false;
    this.argsBuffered = "";
    return this.go("object");
  }

  private inObject(): boolean {
    if (this.expectArray) {
      // Mistral's calls are one JSON array after [TOOL_CALLS].
      const t = this.buf.trimStart();
      if (t === "") return false;
      this.expectArray = false;
      if (t.startsWith("[")) {
        this.raw += this.buf.slice(0, this.buf.length - t.length + 1);
        this.buf = t.slice(1);
      }
    }
    if (this.buf === "") return false;
    let args = "";
    let i = 0;
    while (i < this.buf.length && !this.scanner.done) {
      const ch = this.buf[i] as string;
      const key = this.scanner.key; // the key a value character belongs to (cleared as its last one is read)
      const event = this.scanner.push(ch);
      if (this.scanner.failed) break; // the character that broke the call stays in the buffer
      this.raw += ch;
      i++;
      if (this.scanner.inValue && this.isArgsKey(key)) {
        this.argsSeen = true;
        // Llama 3 only: the name alone does not make a JSON reply a call; its arguments key does.
        if (!this.announced && this.name !== null) this.announce();
        if (this.announced) args += ch;
        else this.argsBuffered += ch;
      }
      if (event !== null) this.onScan(event, args, (flushed) => (args = flushed));
      const pending = this.scanner.takePendingEnd();
      if (pending !== null) this.onScan(pending, args, (flushed) => (args = flushed));
    }
    this.buf = this.buf.slice(i);
    if (args !== "") this.emitArgs(args);
    if (this.scanner.failed) return this.abandonCall();
    if (this.scanner.done) return this.closeCall();
    return false;
  }

  private isArgsKey(key: string | null): boolean {
    return key === "arguments" || key === "parameters" || key === this.syntax.argumentsKey;
  }

  private onScan(event: ScanEvent, args: string, setArgs: (s: string) => void): void {
    if (event.kind !== "value" || event.key !== "name" || this.name !== null) return;
    try {
      const name: unknown = JSON.parse(event.text);
      if (typeof name !== "string") return;
      this.name = name;
    } catch {
      return;
    }
    if (args !== "") this.emitArgs(args);
    setArgs("");
    if (this.syntax.family !== "llama3" || this.argsSeen) this.announce();
  }

  private announce(): void {
    this.out.push({ kind: "call", index: this.calls, id: this.newId(), name: this.name as string });
    this.announced = true;
    if (this.argsBuffered !== "") {
      this.emitArgs(this.argsBuffered);
      this.argsBuffered = "";
    }
  }

  private emitArgs(text: string): void {
    if (text === "") return;
    const last = this.out.at(-1);
    if (last?.kind === "arguments" && last.index === this.calls) this.out[this.out.length - 1] = { ...last, text: last.text + text };
    else this.out.push({ kind: "arguments", index: this.calls, text });
  }

  private closeCall(): boolean {
    // A Llama 3 JSON reply without an arguments key is content (a JSON answer with a "name"), not a call.
    if (this.name === null || (this.syntax.family === "llama3" && !this.argsSeen)) return this.abandonCall();
    if (!this.announced) this.announce();
    if (!this.argsSeen) this.emitArgs("{}");
    this.calls++;
    this.raw = "";
    return this.go("after");
  }

  /** Not a (well-formed) call after all: its text so far is content, and later calls are still found. */
  private abandonCall(): boolean {
    if (this.announced) {
      // The name is out already: keep the call (its arguments end where the text did), skip its close tag.
      this.calls++;
      this.raw = "";
      return this.go("after");
    }
    this.content(this.raw);
    this.raw = "";
    return this.go(this.marker === "" ? "text" : "content");
  }

  private afterCall(final: boolean): boolean {
    const t = this.buf.trimStart();
    const close = this.syntax.callClose.trim();
    if (close !== "") {
      if (t.startsWith(close)) {
        this.buf = t.slice(close.length);
        return this.go("between");
      }
      if (close.startsWith(t) && !final) return false;
      return this.go("between");
    }
    if (t === "") return final ? this.go("between") : false;
    if (this.syntax.family === "mistral" && t.startsWith(",")) return this.openCall(this.buf.length - t.length + 1);
    if (this.syntax.family === "mistral" && t.startsWith("]")) {
      this.buf = t.slice(1);
      return this.go("between");
    }
    if (this.syntax.family === "llama3" && t.startsWith(";")) return this.openCall(this.buf.length - t.length + 1);
    return this.go("between");
  }

  private betweenCalls(final: boolean): boolean {
    const t = this.buf.trimStart();
    if (t === "") {
      if (final) this.buf = "";
      return false;
    }
    const marker = this.syntax.family === "llama3" ? "{" : this.marker;
    if (t.startsWith(marker)) return this.openCall(this.buf.length - t.length + (this.syntax.family === "llama3" ? 0 : marker.length));
    if (marker.startsWith(t) && !final) return false;
    return this.go("content");
  }

  private go(state: State): boolean {
    this.state = state;
    return true;
  }
}

/** How many characters at the end of `text` could begin `marker` (held back until the next text decides). */
function heldSuffix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) {
    if (marker.startsWith(text.slice(text.length - n))) return n;
  }
  return 0;
}

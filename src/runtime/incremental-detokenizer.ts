// Turns generated token ids into UTF-8-safe text deltas with the prefix-offset/read-offset technique of HF
// text-generation-inference: decode a short window with some left context, emit only what the new tokens added,
// and hold text back while it ends in U+FFFD (a multi-byte character split across tokens).
// Rule: the concatenation of every push() and flush() equals detokenize(allTokens), leading-space handling included,
// except where a vocabulary's clean-up rewrites text already emitted (Llama-3 BPE drops the space in " ,"): then the
// new token's own text is emitted after it, so no character the model generated is lost (what a grammar matched).

export type DetokenizeFn = (tokens: readonly number[]) => string;

export interface IncrementalDetokenizerOptions {
  /** Tokens of left context decoded before the new ones (SentencePiece renders "▁x" differently at a range start). */
  contextTokens?: number;
}

const DEFAULT_CONTEXT_TOKENS = 4;
/**
 * Undecodable tokens held before giving up on them. A split UTF-8 character spans at most 4 byte tokens, so a longer
 * run ending in U+FFFD is invalid bytes, not a character in progress; releasing it keeps each push O(context) even
 * when a model emits garbage bytes (the released text then shows U+FFFD as the detokenizer renders it).
 */
const MAX_HELD_TOKENS = 8;
const REPLACEMENT_CHAR = "\uFFFD";

export class IncrementalDetokenizer {
  private readonly detokenize: DetokenizeFn;
  private readonly contextTokens: number;
  private readonly tokens: number[] = [];
  /** Start of the decode window: left context for the tokens from readOffset on. */
  private prefixOffset = 0;
  /** Tokens before readOffset have been emitted as text. */
  private readOffset = 0;
  private emitted = 0;

  constructor(detokenize: DetokenizeFn, opts?: IncrementalDetokenizerOptions) {
    const context = opts?.contextTokens ?? DEFAULT_CONTEXT_TOKENS;
    if (!Number.isInteger(context) || context < 1) throw new RangeError(`contextTokens must be an integer ≥ 1, got ${context}`);
    this.detokenize = detokenize;
    this.contextTokens = context;
  }

  /** Total text (UTF-16 code units) emitted so far, for offsets such as logprobs' text_offset. */
  get emittedLength(): number {
    return this.emitted;
  }

  /** Whether tokens are held back (a character split across tokens, not yet emitted). */
  get holding(): boolean {
    return this.readOffset < this.tokens.length;
  }

  push(token: number): string {
    this.tokens.push(token);
    const { prefixText, newText } = this.decodeWindow();
    const complete = newText !== prefixText && !newText.endsWith(REPLACEMENT_CHAR);
    if (!complete && this.tokens.length - this.readOffset <= MAX_HELD_TOKENS) return "";
    return this.advance(prefixText, newText);
  }

  flush(): string {
    if (this.readOffset === this.tokens.length) return "";
    const { prefixText, newText } = this.decodeWindow();
    return this.advance(prefixText, newText);
  }

  private decodeWindow(): { prefixText: string; newText: string } {
    const window = this.tokens.slice(this.prefixOffset);
    const prefixText = this.detokenize(window.slice(0, this.readOffset - this.prefixOffset));
    return { prefixText, newText: this.detokenize(window) };
  }

  /** Emit what the tokens since readOffset added, and slide the window so it keeps only contextTokens of context. */
  private advance(prefixText: string, newText: string): string {
    // A decoder may render the earlier text differently once the new token follows (space clean-up before
    // punctuation): what differs after the common prefix is the new token's text.
    const text = newText.startsWith(prefixText) ? newText.slice(prefixText.length) : newText.slice(commonPrefixLength(prefixText, newText));
    this.readOffset = this.tokens.length;
    this.prefixOffset = Math.max(0, this.readOffset - this.contextTokens);
    // Tokens before the window are never decoded again; drop them so memory stays O(context) on long generations.
    if (this.prefixOffset > 0) {
      this.tokens.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    this.emitted += text.length;
    return text;
  }
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

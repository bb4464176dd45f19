// OutputProcessor: per-sequence output state inside the engine worker (detokenizer, stop matcher, sampling state)
// and the one pass over a step's sampled tokens: detokenize, check EOS/stop tokens/stop strings/length, build the
// step's events. It decides *that* a sequence finishes; the scheduler releases the slot.

import type { FinishReason, StoppingParams, Usage, SamplingParams } from "../request/generate-request.js";
import type { ModelBackend, SequenceSampling } from "../runtime/model-backend.js";
import { IncrementalDetokenizer } from "../runtime/incremental-detokenizer.js";
import { StopMatcher } from "../runtime/stop-matcher.js";
import type { SequenceUpdate } from "./scheduler.js";
import type { Sequence } from "./sequence.js";
import type { SampledToken } from "../runtime/step-plan.js";
import type { SequenceEvent, TokenLogprobData } from "./worker-messages.js";
import type { LazyGrammar } from "../chat/output-grammar.js";
import { LazyGrammarWatcher } from "./lazy-grammar.js";

export interface OutputState {
  /** Its outputTokens are the sequence's own (one copy of a request's tokens, appended by the scheduler). */
  readonly sampling: SequenceSampling;
  readonly stopping: StoppingParams;
  readonly detok: IncrementalDetokenizer;
  readonly stop: StopMatcher;
  /** tool_choice auto: arms the calls grammar when the text writes the call marker. */
  readonly lazy: LazyGrammarWatcher | null;
}

export function newOutputState(
  backend: ModelBackend,
  seq: Sequence,
  params: SamplingParams,
  stopping: StoppingParams,
  logprobs: number | null,
  grammar: string | null = null,
  lazy: LazyGrammar | null = null,
): OutputState {
  return {
    sampling: { params, logprobs, suppressEog: stopping.ignoreEos || stopping.minTokens > 0, outputTokens: seq.outputTokens, grammar },
    stopping,
    detok: new IncrementalDetokenizer((t) => backend.detokenize(t)),
    stop: new StopMatcher({ stop: stopping.stop, includeStopStr: stopping.includeStopStr }),
    lazy: lazy === null ? null : new LazyGrammarWatcher(lazy),
  };
}

/**
 * A lazy grammar's text: armed when this piece completes the marker; text that follows before the executor's next
 * sample (the rest of a verified step) is read by the grammar too.
 */
function watchGrammar(st: OutputState, text: string): void {
  const s = st.sampling;
  if (s.grammarFed !== undefined) {
    s.grammarFed += text;
    return;
  }
  const fed = st.lazy?.push(text, !st.detok.holding) ?? null;
  if (fed === null || st.lazy === null) return;
  s.grammar = st.lazy.spec.grammar;
  s.grammarFed = fed;
}

export interface ProcessedOutput {
  readonly event: SequenceEvent;
  /** Set when the sequence must finish now. */
  readonly finish: FinishReason | null;
}

export function usageOf(seq: Sequence): Usage {
  return { promptTokens: seq.promptTokens.length, completionTokens: seq.outputTokens.length, cachedTokens: seq.cachedTokens };
}

/** One output token to process: the sequence's `outputCount`th (default: its newest). */
export interface TokenUpdate extends Pick<SequenceUpdate, "seq" | "token" | "firstToken"> {
  readonly outputCount?: number;
}

/**
 * Handle one sampled token of one sequence. `sample` carries logprobs when requested. A verified step appends several
 * tokens at once: each is processed in turn with its own outputCount, and a finish before the last one cuts the
 * output there (Sequence.keepOutput), as if the later tokens had never been sampled.
 */
export function processToken(backend: ModelBackend, st: OutputState, update: TokenUpdate, sample: SampledToken | undefined): ProcessedOutput {
  const { seq, token } = update;
  const n = update.outputCount ?? seq.outputTokens.length;
  st.sampling.suppressEog = st.stopping.ignoreEos || n < st.stopping.minTokens;
  const logprobs = sample?.logprob === undefined ? undefined : [logprobData(backend, sample, tokensBefore(seq, n, 4))];

  const mayStop = n >= st.stopping.minTokens;
  const endsByToken = mayStop && (st.stopping.stopTokenIds.includes(token) || (!st.stopping.ignoreEos && backend.isEog(token)));
  if (endsByToken) {
    // The ending token is counted in usage but is not output: no text, no id, no logprobs entry.
    const text = st.stop.push(st.detok.flush()).emit + st.stop.flush();
    return finished(seq, n, text, [], undefined, "stop");
  }
  const delta = st.detok.push(token);
  watchGrammar(st, delta);
  // Before min_tokens, stop strings do not apply (as in vLLM): the text passes straight through.
  const pushed = mayStop ? st.stop.push(delta) : { emit: delta, stopped: false, matched: null };
  if (pushed.stopped) return finished(seq, n, pushed.emit, [token], logprobs, "stop");
  if (n >= seq.maxNewTokens) {
    const text = pushed.emit + st.stop.push(st.detok.flush()).emit + st.stop.flush();
    // A stop string still held back when the cap hit settles on flush: that is a stop, not a length finish.
    return finished(seq, n, text, [token], logprobs, st.stop.matched === null ? "length" : "stop");
  }
  return { event: { id: seq.id, text: pushed.emit, tokenIds: [token], ...(logprobs ? { logprobs } : {}) }, finish: null };
}

function finished(seq: Sequence, n: number, text: string, tokenIds: number[], logprobs: TokenLogprobData[] | undefined, reason: FinishReason): ProcessedOutput {
  seq.keepOutput(n);
  return {
    event: { id: seq.id, text, tokenIds, ...(logprobs ? { logprobs } : {}), finish: { reason, usage: usageOf(seq) } },
    finish: reason,
  };
}

/**
 * Each token's text as the continuation of the tokens before it (a SentencePiece word-start token keeps its leading
 * space), so the logprob tokens of a response concatenate to its content, as OpenAI's do.
 */
function logprobData(backend: ModelBackend, s: SampledToken, previous: readonly number[]): TokenLogprobData {
  const text = (token: number): string => backend.detokenize([token], false, previous);
  return {
    token: s.token,
    text: text(s.token),
    logprob: s.logprob ?? -9999,
    top: (s.top ?? []).map((t) => ({ token: t.token, text: text(t.token), logprob: t.logprob })),
  };
}

/** Up to `k` output tokens before the `n`th: the content is detokenized from the output alone, so are these. */
function tokensBefore(seq: Sequence, n: number, k: number): readonly number[] {
  return seq.outputTokens.slice(Math.max(0, n - 1 - k), n - 1);
}

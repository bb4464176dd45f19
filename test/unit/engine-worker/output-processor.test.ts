// Unit tests for processToken, the one pass over a sampled token: EOS and stop_token_ids (finish "stop", the token
// itself never emitted), stop strings across tokens, the length cap, min_tokens/ignore_eos driving suppressEog, and
// logprobs only when asked. Uses a fake ModelBackend: a small id → text table, and isEog(token) === (token === 2).
import { describe, expect, it } from "vitest";
import { newOutputState, processToken, type ProcessedOutput } from "../../../src/engine-worker/output-processor.js";
import { Sequence } from "../../../src/engine-worker/sequence.js";
import type { SampledToken } from "../../../src/runtime/step-plan.js";
import { DEFAULT_SAMPLING, type StoppingParams } from "../../../src/request/generate-request.js";
import type { ModelBackend } from "../../../src/runtime/model-backend.js";

const VOCAB: Readonly<Record<number, string>> = { 2: "</s>", 3: "Hel", 4: "lo", 5: " wor", 6: "ld", 7: "!", 8: "<|end|>" };
const EOS = 2;
const END = 8;

const backend: ModelBackend = {
  info: {
    path: "fake.gguf",
    trainContextSize: 64,
    vocabSize: 16,
    slotContextSize: 64,
    slots: 1,
    chatTemplate: null,
    bosText: "<s>",
    eosText: "</s>",
    gpu: false,
    threads: 1,
    threadsBatch: 1,
    buildType: "fake",
    architecture: "fake",
    maxTokenBytes: 8,
    kvCosts: { copyMs: 0, bytesPerToken: 0, restoreMsPerToken: 0, saveMsPerToken: 0 },
  },
  tokenize: () => [],
  detokenize: (tokens) => tokens.map((t) => VOCAB[t] ?? "?").join(""),
  isEog: (token) => token === EOS,
  prepareGrammar: () => undefined,
  step: () => Promise.reject(new Error("not used")),
  releaseSampling: () => {},
  kvCellsUsed: () => 0,
  dispose: () => Promise.resolve(),
};

const STOPPING: StoppingParams = { maxTokens: null, minTokens: 0, stop: [], stopTokenIds: [], ignoreEos: false, includeStopStr: false };

interface Run {
  outs: ProcessedOutput[];
  text: string;
  tokenIds: number[];
  finish: string | null;
}

/** One sequence's output state, fed token by token as the engine loop would after applyResult. */
function harness(stopping: Partial<StoppingParams> = {}, maxNewTokens = 100, logprobs: number | null = null) {
  const seq = new Sequence({ id: "s", promptTokens: [1, 1], maxNewTokens, arrivalStep: 0 });
  seq.transition("prefilling");
  const st = newOutputState(backend, seq, DEFAULT_SAMPLING, { ...STOPPING, ...stopping }, logprobs);
  const feed = (token: number, sample?: SampledToken): ProcessedOutput => {
    const firstToken = seq.status === "prefilling";
    seq.appendOutput(token);
    if (firstToken) seq.transition("decoding");
    return processToken(backend, st, { seq, token, firstToken }, sample);
  };
  /** Feed until a token finishes the sequence (like the engine, which then stops feeding it). */
  const run = (tokens: readonly number[]): Run => {
    const outs: ProcessedOutput[] = [];
    for (const t of tokens) {
      const out = feed(t);
      outs.push(out);
      if (out.finish !== null) break;
    }
    return {
      outs,
      text: outs.map((o) => o.event.text).join(""),
      tokenIds: outs.flatMap((o) => [...o.event.tokenIds]),
      finish: outs.at(-1)?.finish ?? null,
    };
  };
  return { seq, st, feed, run };
}

describe("processToken: EOS and stop tokens", () => {
  it("EOS finishes with stop; its id and text are never emitted", () => {
    const { run } = harness();
    const r = run([3, 4, EOS, 5]);
    expect(r.outs).toHaveLength(3);
    expect({ text: r.text, ids: r.tokenIds, finish: r.finish }).toEqual({ text: "Hello", ids: [3, 4], finish: "stop" });
    const last = r.outs[2]?.event;
    expect(last?.tokenIds).toEqual([]);
    expect(last?.finish?.reason).toBe("stop");
    expect(last?.finish?.usage.promptTokens).toBe(2);
  });

  it("tokens before the end stream as they come, without a finish", () => {
    const { feed } = harness();
    expect(feed(3)).toEqual({ event: { id: "s", text: "Hel", tokenIds: [3] }, finish: null });
    expect(feed(4)).toEqual({ event: { id: "s", text: "lo", tokenIds: [4] }, finish: null });
  });

  it("a stop_token_id finishes with stop and is not emitted", () => {
    const r = harness({ stopTokenIds: [END] }).run([3, END, 4]);
    expect({ text: r.text, ids: r.tokenIds, finish: r.finish, n: r.outs.length }).toEqual({ text: "Hel", ids: [3], finish: "stop", n: 2 });
  });

  it("a token that is not in stop_token_ids is ordinary text", () => {
    const r = harness({ stopTokenIds: [7] }).run([3, END]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hel<|end|>", finish: null });
  });
});

describe("processToken: stop strings", () => {
  it("match across tokens: text before the stop is emitted, the stop string is not", () => {
    const r = harness({ stop: ["lo w"] }).run([3, 4, 5, 6]);
    expect({ text: r.text, finish: r.finish, n: r.outs.length }).toEqual({ text: "Hel", finish: "stop", n: 3 });
    expect(r.outs.at(-1)?.event.finish?.reason).toBe("stop");
  });

  it("includeStopStr keeps the stop string", () => {
    const r = harness({ stop: ["lo w"], includeStopStr: true }).run([3, 4, 5, 6]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hello w", finish: "stop" });
  });

  it("a held partial match is released when the stream ends by length", () => {
    const r = harness({ stop: ["world!"] }, 3).run([3, 4, 5]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hello wor", finish: "length" });
  });

  it("a complete match still held when the cap hits settles as stop", () => {
    // "lo" has matched, but the longer "lo w" (same start) might still win, so the match is held.
    const r = harness({ stop: ["lo", "lo w"] }, 2).run([3, 4]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hel", finish: "stop" });
  });
});

describe("processToken: length", () => {
  it("finishes with length at maxNewTokens, emitting that last token", () => {
    const r = harness({}, 3).run([3, 4, 5, 6]);
    expect({ text: r.text, ids: r.tokenIds, finish: r.finish, n: r.outs.length }).toEqual({
      text: "Hello wor",
      ids: [3, 4, 5],
      finish: "length",
      n: 3,
    });
    expect(r.outs[2]?.event.finish?.usage).toEqual({ promptTokens: 2, completionTokens: 3, cachedTokens: 0 });
  });

  it("EOS on the last allowed token is a stop, not a length finish", () => {
    expect(harness({}, 2).run([3, EOS]).finish).toBe("stop");
  });
});

describe("processToken: min_tokens and ignore_eos", () => {
  it("min_tokens keeps suppressEog true until that many tokens exist", () => {
    const { st, feed } = harness({ minTokens: 3 });
    const seen = [st.sampling.suppressEog];
    for (const t of [3, 4, 5, 6]) {
      feed(t);
      seen.push(st.sampling.suppressEog);
    }
    expect(seen).toEqual([true, true, true, false, false]);
    expect(st.sampling.outputTokens).toEqual([3, 4, 5, 6]);
  });

  it("EOS ends the sequence once min_tokens is reached", () => {
    const r = harness({ minTokens: 2 }).run([3, 4, EOS]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hello", finish: "stop" });
  });

  it("without min_tokens or ignore_eos, EOG is never suppressed", () => {
    const { st, feed } = harness();
    expect(st.sampling.suppressEog).toBe(false);
    feed(3);
    expect(st.sampling.suppressEog).toBe(false);
  });

  it("ignore_eos keeps suppressEog true always, and an EOS token does not finish", () => {
    const { st, run } = harness({ ignoreEos: true, minTokens: 1 });
    expect(st.sampling.suppressEog).toBe(true);
    const r = run([3, EOS, 4, EOS]);
    expect(r.finish).toBeNull();
    expect(r.outs).toHaveLength(4);
    expect(st.sampling.suppressEog).toBe(true);
  });

  it("ignore_eos does not disable stop_token_ids", () => {
    const r = harness({ ignoreEos: true, stopTokenIds: [END] }).run([3, END, 4]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hel", finish: "stop" });
  });

  it("stop strings are ignored before min_tokens", () => {
    const r = harness({ minTokens: 3, stop: ["Hel"] }).run([3, 4, 5]);
    expect({ text: r.text, finish: r.finish }).toEqual({ text: "Hello wor", finish: null });
  });
});

describe("processToken: logprobs", () => {
  const sample: SampledToken = {
    token: 3,
    logprob: -0.5,
    top: [
      { token: 3, logprob: -0.5 },
      { token: 4, logprob: -1.25 },
    ],
  };

  it("carries logprob data with detokenized texts when the sample has it", () => {
    const out = harness({}, 100, 2).feed(3, sample);
    expect(out.event.logprobs).toEqual([
      {
        token: 3,
        text: "Hel",
        logprob: -0.5,
        top: [
          { token: 3, text: "Hel", logprob: -0.5 },
          { token: 4, text: "lo", logprob: -1.25 },
        ],
      },
    ]);
  });

  it("has no logprobs key when none were asked (no sample data)", () => {
    const { feed } = harness();
    expect("logprobs" in feed(3).event).toBe(false);
    expect("logprobs" in feed(4, { token: 4 }).event).toBe(false);
  });

  it("a finishing event carries logprobs only when asked", () => {
    expect("logprobs" in harness({}, 1).feed(3).event).toBe(false);
    expect(harness({}, 1).feed(3, sample).event.logprobs).toHaveLength(1);
  });
});

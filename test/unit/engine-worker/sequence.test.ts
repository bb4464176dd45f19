// Unit tests for Sequence, the engine-side request state machine: every cell of the TRANSITIONS table (legal moves
// succeed, illegal ones throw InvariantError and leave the state unchanged), tokenAt across the prompt/output
// boundary, appendOutput's state rules, and finish().
import { describe, expect, it } from "vitest";
import { InvariantError, Sequence, TRANSITIONS, type SequenceStatus } from "../../../src/engine-worker/sequence.js";

const STATUSES: readonly SequenceStatus[] = ["waiting", "prefilling", "decoding", "finished"];

function seq(prompt: readonly number[] = [10, 11, 12], id = "s"): Sequence {
  return new Sequence({ id, promptTokens: prompt, maxNewTokens: 8, arrivalStep: 0 });
}

/** A sequence driven through legal moves into `status`. */
function seqIn(status: SequenceStatus): Sequence {
  const s = seq();
  const path: Record<SequenceStatus, SequenceStatus[]> = {
    waiting: [],
    prefilling: ["prefilling"],
    decoding: ["prefilling", "decoding"],
    finished: ["finished"],
  };
  for (const to of path[status]) s.transition(to);
  expect(s.status).toBe(status);
  return s;
}

describe("Sequence: transition table", () => {
  it("is the documented state machine", () => {
    expect(TRANSITIONS).toEqual({
      waiting: ["prefilling", "finished"],
      prefilling: ["decoding", "finished"],
      decoding: ["finished"],
      finished: [],
    });
  });

  it("starts waiting, with nothing computed, cached or assigned", () => {
    const s = seq();
    expect(s.status).toBe("waiting");
    expect(s.isFinished).toBe(false);
    expect({ computed: s.computed, cached: s.cachedTokens, slot: s.slot, reason: s.finishReason }).toEqual({
      computed: 0,
      cached: 0,
      slot: null,
      reason: null,
    });
  });

  for (const from of STATUSES) {
    for (const to of STATUSES) {
      const legal = TRANSITIONS[from].includes(to);
      it(`${from} -> ${to} is ${legal ? "legal" : "illegal"}`, () => {
        const s = seqIn(from);
        if (legal) {
          s.transition(to);
          expect(s.status).toBe(to);
        } else {
          expect(() => s.transition(to)).toThrow(InvariantError);
          expect(s.status).toBe(from);
        }
      });
    }
  }

  it("names the sequence and both states in the error", () => {
    const s = seq([1], "req-7");
    expect(() => s.transition("decoding")).toThrow("sequence req-7: illegal transition waiting -> decoding");
  });

  it("InvariantError is an Error named InvariantError", () => {
    const err = new InvariantError("x");
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("InvariantError");
  });
});

describe("Sequence: finish", () => {
  it("records the reason from every non-final state", () => {
    for (const from of ["waiting", "prefilling", "decoding"] as const) {
      const s = seqIn(from);
      s.finish("cancelled");
      expect(s.isFinished).toBe(true);
      expect(s.finishReason).toBe("cancelled");
    }
  });

  it("refuses to finish twice and keeps the first reason", () => {
    const s = seqIn("decoding");
    s.finish("length");
    expect(() => s.finish("stop")).toThrow(InvariantError);
    expect(s.finishReason).toBe("length");
  });
});

describe("Sequence: tokens", () => {
  it("tokenAt reads the prompt then the outputs, with no gap at the boundary", () => {
    const s = seqIn("prefilling");
    s.appendOutput(20);
    s.transition("decoding");
    s.appendOutput(21);
    expect([0, 1, 2, 3, 4].map((i) => s.tokenAt(i))).toEqual([10, 11, 12, 20, 21]);
    expect(s.totalTokens).toBe(5);
  });

  it("tokenAt throws past the end and before the start", () => {
    const s = seqIn("prefilling");
    expect(() => s.tokenAt(3)).toThrow(InvariantError);
    s.appendOutput(20);
    expect(s.tokenAt(3)).toBe(20);
    expect(() => s.tokenAt(4)).toThrow(InvariantError);
    expect(() => s.tokenAt(-1)).toThrow(InvariantError);
  });

  it("tokenAt does not mistake token id 0 for a missing token", () => {
    const s = seq([0, 0]);
    expect(s.tokenAt(1)).toBe(0);
  });

  it("remainingPrompt counts prompt tokens not yet computed and never goes negative", () => {
    const s = seq([1, 2, 3, 4]);
    expect(s.remainingPrompt).toBe(4);
    s.computed = 3;
    expect(s.remainingPrompt).toBe(1);
    s.computed = 6; // prompt plus outputs computed
    expect(s.remainingPrompt).toBe(0);
  });
});

describe("Sequence: appendOutput", () => {
  it("is allowed while prefilling (the last chunk's sample) and decoding", () => {
    const s = seqIn("prefilling");
    s.appendOutput(5);
    s.transition("decoding");
    s.appendOutput(6);
    expect(s.outputTokens).toEqual([5, 6]);
  });

  for (const status of ["waiting", "finished"] as const) {
    it(`is refused while ${status}, leaving outputs unchanged`, () => {
      const s = seqIn(status);
      expect(() => s.appendOutput(5)).toThrow(InvariantError);
      expect(s.outputTokens).toEqual([]);
      expect(s.totalTokens).toBe(3);
    });
  }

  it("is refused after a decoding sequence finishes", () => {
    const s = seqIn("decoding");
    s.appendOutput(1);
    s.finish("stop");
    expect(() => s.appendOutput(2)).toThrow(/cannot append output while finished/);
    expect(s.outputTokens).toEqual([1]);
  });
});

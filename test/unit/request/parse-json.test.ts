// parseJsonText: invalid JSON and over-deep nesting are 400s (invalid_json) naming body or frame; depthExceeds is
// iterative, so it decides on nesting far beyond what a recursive walk survives.
import { describe, expect, it } from "vitest";
import { LoomError } from "../../../src/errors.js";
import { depthExceeds, MAX_JSON_DEPTH, parseJsonText } from "../../../src/request/parse-json.js";

const deep = (n: number): string => `${"[".repeat(n)}${"]".repeat(n)}`;

describe("parseJsonText", () => {
  it("parses ordinary bodies", () => {
    expect(parseJsonText('{"a":[1,{"b":2}]}')).toEqual({ a: [1, { b: 2 }] });
  });

  it("refuses invalid JSON and over-deep nesting as invalid_json", () => {
    for (const [text, what, pattern] of [
      ["{nope", "body", /The body is not valid JSON/],
      [deep(MAX_JSON_DEPTH + 1), "body", /nested more than 128 levels/],
      [deep(200_000), "frame", /The frame is nested more than/],
    ] as const) {
      let caught: unknown;
      try {
        parseJsonText(text, what);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(LoomError);
      expect((caught as LoomError).code).toBe("invalid_json");
      expect((caught as LoomError).message).toMatch(pattern);
    }
  });

  it("accepts nesting up to the limit", () => {
    expect(() => parseJsonText(deep(MAX_JSON_DEPTH))).not.toThrow();
  });
});

describe("depthExceeds", () => {
  it("counts objects and arrays, not scalars", () => {
    expect(depthExceeds(1, 0)).toBe(false);
    expect(depthExceeds({ a: 1 }, 0)).toBe(true);
    expect(depthExceeds({ a: [{}] }, 2)).toBe(true);
    expect(depthExceeds({ a: [{}] }, 3)).toBe(false);
  });
});

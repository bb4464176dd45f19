// JSON text from a client → a value the rest of Loom can walk safely. JSON.parse itself accepts any nesting depth,
// but JSON.stringify and structured clone (worker messages) recurse and throw RangeError past a few thousand levels,
// so a body nested deeper than any real request is refused here, once, for every transport that parses JSON.

import { LoomError } from "../errors.js";

/** Deeper than any OpenAI request or JSON schema needs, far below where V8's recursive walks overflow. */
export const MAX_JSON_DEPTH = 128;

/** Parse a request body or a WebSocket frame; invalid JSON and over-deep nesting are 400s naming which. */
export function parseJsonText(text: string, what: "body" | "frame" = "body"): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new LoomError("invalid_json", `The ${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (depthExceeds(value, MAX_JSON_DEPTH)) {
    throw new LoomError("invalid_json", `The ${what} is nested more than ${MAX_JSON_DEPTH} levels deep.`);
  }
  return value;
}

/** Iterative (a recursive check would overflow on the very inputs it exists to refuse). */
export function depthExceeds(root: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (typeof top.value !== "object" || top.value === null) continue;
    if (top.depth >= max) return true;
    for (const child of Object.values(top.value)) stack.push({ value: child, depth: top.depth + 1 });
  }
  return false;
}

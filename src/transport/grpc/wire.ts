// Engine stream events → loom.v1 response messages (plain objects in proto-loader's keepCase form), shared by the
// server-streaming calls and ChatSession.

import type { StreamEvent } from "../../engine/engine.js";
import type { TokenLogprobData } from "../../request/generate-request.js";

const FINISH_REASONS = {
  stop: "FINISH_REASON_STOP",
  length: "FINISH_REASON_LENGTH",
  cancelled: "FINISH_REASON_CANCELLED",
  tool_calls: "FINISH_REASON_TOOL_CALLS",
  error: "FINISH_REASON_UNSPECIFIED",
} as const;

/** A `delta` or `finished` message, or null for events with nothing to send (accepted, error). */
export function toMessage(ev: StreamEvent, withLogprobs: boolean): Record<string, unknown> | null {
  if (ev.type === "delta") {
    return { delta: { text: ev.text, token_ids: ev.tokenIds, logprobs: withLogprobs ? (ev.logprobs ?? []).map(logprob) : [] } };
  }
  if (ev.type === "tool_call") return { tool_call: { index: ev.index, id: ev.id, name: ev.name, arguments: "" } };
  if (ev.type === "tool_arguments") return { tool_call: { index: ev.index, id: "", name: "", arguments: ev.text } };
  if (ev.type === "done") {
    const u = ev.usage;
    return {
      finished: {
        reason: FINISH_REASONS[ev.reason],
        usage: { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, cached_tokens: u.cachedTokens },
      },
    };
  }
  return null;
}

function logprob(t: TokenLogprobData): unknown {
  return { token: t.token, text: t.text, logprob: t.logprob, top: t.top.map((a) => ({ token: a.token, text: a.text, logprob: a.logprob })) };
}

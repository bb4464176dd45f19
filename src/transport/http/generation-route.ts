// The driver shared by POST /v1/chat/completions and /v1/completions: engine.submit → wait for the worker to
// accept (so a too-long prompt is still a plain 400) → SSE or one JSON body. The socket's 'close' is the one
// cancellation signal: it aborts the stream, which frees the slot at the next engine step.

import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Engine, StreamEvent } from "../../engine/engine.js";
import { LoomError, toOpenAIErrorBody, type ErrorData } from "../../errors.js";
import type { FinishReasonWire, ToolCallWire } from "../../protocol/openai.js";
import type { FinishReason, TokenLogprobData, Usage } from "../../request/generate-request.js";
import type { ParsedGenerationRequest } from "../../request/parse-sampling.js";
import { sendError, sendJson } from "./http-respond.js";
import type { ResponseIdentity, ResponseRenderer } from "./response-renderer.js";
import { SseWriter } from "./sse-writer.js";

export interface GenerationContext {
  readonly engine: Engine;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly headers: Readonly<Record<string, string>>;
  readonly deadlineAt: number | null;
}

export function newIdentity(prefix: string, model: string): ResponseIdentity {
  return { id: `${prefix}-${randomBytes(12).toString("hex")}`, created: Math.floor(Date.now() / 1000), model };
}

export async function runGeneration(ctx: GenerationContext, parsed: ParsedGenerationRequest, renderer: ResponseRenderer): Promise<void> {
  const requestId = ctx.headers["x-request-id"] ?? "";
  const traceparent = ctx.req.headers.traceparent;
  const stream = ctx.engine.submit(parsed.request, {
    deadlineAt: ctx.deadlineAt,
    requestId,
    transport: "http",
    operation: parsed.request.prompt.kind === "chat" ? "chat" : "text_completion",
    ...(typeof traceparent === "string" ? { traceparent } : {}),
  });
  ctx.res.once("close", () => stream.abort());
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) return;
  if (first.value.type === "error") return sendError(ctx.res, first.value.error, ctx.headers);
  if (parsed.stream) await streamSse(ctx, parsed, renderer, it);
  else await respondJson(ctx, renderer, it);
}

async function streamSse(ctx: GenerationContext, parsed: ParsedGenerationRequest, r: ResponseRenderer, it: AsyncIterator<StreamEvent>): Promise<void> {
  const sse = new SseWriter(ctx.res);
  sse.open(ctx.headers);
  for (const chunk of r.openingChunks(parsed.includeUsage)) await sse.data(chunk);
  let offset = 0;
  for (let next = await it.next(); next.done !== true; next = await it.next()) {
    const ev = next.value;
    if (ev.type === "delta") {
      await sse.data(r.deltaChunk(ev.text, parsed.logprobs ? ev.logprobs : null, offset, parsed.includeUsage));
      offset += ev.text.length;
    } else if (ev.type === "tool_call") {
      await sse.data(r.toolCallChunk({ index: ev.index, id: ev.id, type: "function", function: { name: ev.name, arguments: "" } }, parsed.includeUsage));
    } else if (ev.type === "tool_arguments") {
      await sse.data(r.toolCallChunk({ index: ev.index, function: { arguments: ev.text } }, parsed.includeUsage));
    } else if (ev.type === "done") {
      if (ev.reason === "cancelled") return sse.end();
      await sse.data(r.finishChunk(wireReason(ev.reason), parsed.includeUsage));
      if (parsed.includeUsage) await sse.data(r.usageChunk(ev.usage));
      return sse.done();
    } else if (ev.type === "error") {
      // Headers are gone: the SDK turns a data event carrying `error` into an APIError (contract §1.4).
      await sse.data(toOpenAIErrorBody(ev.error));
      return sse.end();
    }
  }
  sse.end();
}

async function respondJson(ctx: GenerationContext, r: ResponseRenderer, it: AsyncIterator<StreamEvent>): Promise<void> {
  let text = "";
  const logprobs: TokenLogprobData[] = [];
  const calls: { id: string; type: "function"; function: { name: string; arguments: string } }[] = [];
  for (let next = await it.next(); next.done !== true; next = await it.next()) {
    const ev = next.value;
    if (ev.type === "delta") {
      text += ev.text;
      if (ev.logprobs !== null) logprobs.push(...ev.logprobs);
    } else if (ev.type === "tool_call") {
      calls[ev.index] = { id: ev.id, type: "function", function: { name: ev.name, arguments: "" } };
    } else if (ev.type === "tool_arguments") {
      const call = calls[ev.index];
      if (call !== undefined) call.function.arguments += ev.text;
    } else if (ev.type === "done") {
      return finishJson(ctx, r, text, logprobs, ev.reason, ev.usage, calls);
    } else if (ev.type === "error") {
      return sendError(ctx.res, ev.error, ctx.headers);
    }
  }
}

function finishJson(
  ctx: GenerationContext,
  r: ResponseRenderer,
  text: string,
  lp: TokenLogprobData[],
  reason: FinishReason,
  usage: Usage,
  calls: readonly ToolCallWire[],
): void {
  if (reason === "cancelled") {
    // Only reachable when the client is gone: nobody reads this response.
    ctx.res.destroy();
    return;
  }
  sendJson(ctx.res, 200, r.body(text, lp, wireReason(reason), usage, calls), ctx.headers);
}

function wireReason(reason: FinishReason): FinishReasonWire {
  if (reason === "stop" || reason === "length" || reason === "tool_calls") return reason;
  throw new LoomError("internal_error", `finish reason ${reason} has no wire form`);
}

export function errorDataOf(err: unknown): ErrorData {
  return LoomError.from(err).toData();
}

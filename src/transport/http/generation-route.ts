// The driver shared by POST /v1/chat/completions and /v1/completions: engine.submitChoices (n streams, n = 1 unless
// the request asks for more) → wait for the worker to accept them (so a too-long prompt is still a plain 400) → SSE
// (each chunk names its choice) or one JSON body. The socket's 'close' is the one cancellation signal: it aborts
// every stream, which frees their slots at the next engine step.

import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Caller } from "../../admission/gatekeeper.js";
import type { Engine } from "../../engine/engine.js";
import { combinedUsage, mergeChoices, type ChoiceEvent } from "../../engine/choice-streams.js";
import { LoomError, toOpenAIErrorBody, type ErrorData } from "../../errors.js";
import type { FinishReasonWire } from "../../protocol/openai.js";
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
  readonly caller: Caller;
}

export function newIdentity(prefix: string, model: string): ResponseIdentity {
  return { id: `${prefix}-${randomBytes(12).toString("hex")}`, created: Math.floor(Date.now() / 1000), model };
}

export async function runGeneration(ctx: GenerationContext, parsed: ParsedGenerationRequest, renderer: ResponseRenderer): Promise<void> {
  const requestId = ctx.headers["x-request-id"] ?? "";
  const traceparent = ctx.req.headers.traceparent;
  const streams = ctx.engine.submitChoices(parsed.request, parsed.n, {
    deadlineAt: ctx.deadlineAt,
    requestId,
    transport: "http",
    operation: parsed.request.prompt.kind === "chat" ? "chat" : "text_completion",
    ...(typeof traceparent === "string" ? { traceparent } : {}),
    caller: ctx.caller.name,
    keySalt: ctx.caller.cacheSalt,
  });
  const abortAll = (): void => streams.forEach((s) => s.abort());
  ctx.res.once("close", abortAll);
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  // Each choice is accepted or refused as a whole request (a too-long prompt is still a plain 400).
  const firsts = await Promise.all(iterators.map((it) => it.next()));
  if (firsts.some((f) => f.done === true)) return abortAll();
  const refused = firsts.find((f) => f.value.type === "error")?.value;
  if (refused?.type === "error") {
    abortAll();
    return sendError(ctx.res, refused.error, ctx.headers);
  }
  const events = mergeChoices(streams, iterators);
  if (parsed.stream) await streamSse(ctx, parsed, renderer, events);
  else await respondJson(ctx, parsed.n, renderer, events);
}

async function streamSse(ctx: GenerationContext, parsed: ParsedGenerationRequest, r: ResponseRenderer, events: AsyncGenerator<ChoiceEvent>): Promise<void> {
  const sse = new SseWriter(ctx.res);
  sse.open(ctx.headers);
  for (const chunk of r.openingChunks(parsed.n, parsed.includeUsage)) await sse.data(chunk);
  const offsets = new Array<number>(parsed.n).fill(0);
  const usages: Usage[] = [];
  for await (const { index, event: ev } of events) {
    if (ev.type === "delta") {
      await sse.data(r.deltaChunk(index, ev.text, parsed.logprobs ? ev.logprobs : null, offsets[index] ?? 0, parsed.includeUsage));
      offsets[index] = (offsets[index] ?? 0) + ev.text.length;
    } else if (ev.type === "tool_call") {
      const call = { index: ev.index, id: ev.id, type: "function" as const, function: { name: ev.name, arguments: "" } };
      await sse.data(r.toolCallChunk(index, call, parsed.includeUsage));
    } else if (ev.type === "tool_arguments") {
      await sse.data(r.toolCallChunk(index, { index: ev.index, function: { arguments: ev.text } }, parsed.includeUsage));
    } else if (ev.type === "done") {
      if (ev.reason === "cancelled") return sse.end();
      await sse.data(r.finishChunk(index, wireReason(ev.reason), parsed.includeUsage));
      usages.push(ev.usage);
    } else if (ev.type === "error") {
      // Headers are gone: the SDK turns a data event carrying `error` into an APIError (contract §1.4).
      await sse.data(toOpenAIErrorBody(ev.error));
      return sse.end();
    }
  }
  if (usages.length < parsed.n) return sse.end();
  if (parsed.includeUsage) await sse.data(r.usageChunk(combinedUsage(usages)));
  sse.done();
}

interface ChoiceState {
  text: string;
  readonly logprobs: TokenLogprobData[];
  readonly calls: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  reason: FinishReason | null;
  usage: Usage | null;
}

async function respondJson(ctx: GenerationContext, n: number, r: ResponseRenderer, events: AsyncGenerator<ChoiceEvent>): Promise<void> {
  const choices: ChoiceState[] = Array.from({ length: n }, () => ({ text: "", logprobs: [], calls: [], reason: null, usage: null }));
  for await (const { index, event: ev } of events) {
    const c = choices[index] as ChoiceState;
    if (ev.type === "delta") {
      c.text += ev.text;
      if (ev.logprobs !== null) c.logprobs.push(...ev.logprobs);
    } else if (ev.type === "tool_call") {
      c.calls[ev.index] = { id: ev.id, type: "function", function: { name: ev.name, arguments: "" } };
    } else if (ev.type === "tool_arguments") {
      const call = c.calls[ev.index];
      if (call !== undefined) call.function.arguments += ev.text;
    } else if (ev.type === "done") {
      // Only reachable when the client is gone: nobody reads this response.
      if (ev.reason === "cancelled") return void ctx.res.destroy();
      c.reason = ev.reason;
      c.usage = ev.usage;
    } else if (ev.type === "error") {
      return sendError(ctx.res, ev.error, ctx.headers);
    }
  }
  if (choices.some((c) => c.usage === null)) return void ctx.res.destroy();
  const body = r.body(
    choices.map((c) => ({ text: c.text, logprobs: c.logprobs, reason: wireReason(c.reason as FinishReason), toolCalls: c.calls })),
    combinedUsage(choices.map((c) => c.usage as Usage)),
  );
  sendJson(ctx.res, 200, body, ctx.headers);
}

function wireReason(reason: FinishReason): FinishReasonWire {
  if (reason === "stop" || reason === "length" || reason === "tool_calls") return reason;
  throw new LoomError("internal_error", `finish reason ${reason} has no wire form`);
}

export function errorDataOf(err: unknown): ErrorData {
  return LoomError.from(err).toData();
}

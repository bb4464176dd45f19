// Cache-aware routing for a model served by several engine workers (--engines N): the request's streams are made at
// once (transports read them as usual); its routing key (the first token ids of its prompt, computed off the event
// loop by the routing tokenizer) picks the worker (prefix-router.ts), and the streams are handed to it. A request
// whose reader left while it was being routed is never submitted; one that finds no worker with room ends with the
// error a direct submit would have thrown.

import { toolCallParserFor } from "../chat/tool-calls-for-request.js";
import { LoomError } from "../errors.js";
import type { GenerateRequest } from "../request/generate-request.js";
import type { RouteKeyPool } from "../routing/route-key-pool.js";
import type { PrefixRouter } from "./prefix-router.js";
import type { RequestMeta } from "./request-stats.js";
import { TokenStream } from "./token-stream.js";
import type { WorkerClient } from "./worker-client.js";

export interface RoutedPool {
  readonly clients: readonly WorkerClient[];
  readonly router: PrefixRouter;
  readonly modelPath: string;
  /** Requests one worker may hold in flight (slots + queue). */
  readonly capacity: number;
}

export interface RoutedRequest {
  /** One request per choice, each with its own id. */
  readonly choices: readonly { readonly id: string; readonly request: GenerateRequest }[];
  readonly deadlineAt: number | null;
  readonly meta: RequestMeta;
}

export function submitRouted(pool: RoutedPool, keys: RouteKeyPool, r: RoutedRequest): TokenStream[] {
  let target: WorkerClient | null = null;
  const aborted = new Set<string>();
  const info = pool.clients.find((c) => c.info !== null)?.info ?? null;
  const streams = r.choices.map(
    (c) => new TokenStream(c.id, (sid) => (target === null ? aborted.add(sid) : target.cancel(sid, "cancelled")), toolCallParserFor(c.request, info)),
  );
  const first = r.choices[0]?.request as GenerateRequest;
  void keys
    .key(pool.modelPath, first.prompt, first.output.tools)
    .then((key) => {
      const loads = pool.clients.map((c) => c.inFlight);
      const eligible = pool.clients.map((c) => c.state === "ready" && c.inFlight + r.choices.length <= pool.capacity);
      const choice = pool.router.pick(key, loads, eligible);
      if (choice === null)
        throw noRoom(
          first.model,
          pool.clients.some((c) => c.state === "ready"),
        );
      const client = pool.clients[choice.worker] as WorkerClient;
      target = client;
      pool.router.record(choice.worker, key);
      r.choices.forEach((c, i) => {
        if (!aborted.has(c.id)) client.adopt(streams[i] as TokenStream, c.request, r.deadlineAt, r.meta);
      });
    })
    .catch((err: unknown) => {
      const error = LoomError.from(err).toData();
      for (const s of streams) s.push({ type: "error", error });
    });
  return streams;
}

function noRoom(model: string, anyReady: boolean): LoomError {
  if (!anyReady) return new LoomError("unavailable", `No engine for \`${model}\` is ready; retry shortly.`);
  return new LoomError("queue_full", `The server is at capacity for \`${model}\`; retry shortly.`);
}

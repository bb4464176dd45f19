// The routing tokenizer's thread pool (piscina, one thread: routing keys are short and the point is only to keep
// tokenization off the main event loop). A key that cannot be computed (unsupported vocabulary, a template that
// refuses the messages: the engine reports that one itself) is null, and the request is routed by load alone.

import { Piscina } from "piscina";
import type { PromptInput, ToolDefinition } from "../request/generate-request.js";
import type { RouteKeyTask } from "./route-key-thread.js";

/** The thread runs compiled JS; under the TypeScript test runner this module is src/*.ts, so point at the build. */
function threadFile(): URL {
  const here = import.meta.url;
  if (here.endsWith(".js")) return new URL("./route-key-thread.js", here);
  return new URL("../../dist/src/routing/route-key-thread.js", here);
}

export class RouteKeyPool {
  private readonly pool = new Piscina<RouteKeyTask, Uint32Array | null>({
    filename: threadFile().href,
    minThreads: 1,
    maxThreads: 1,
    idleTimeout: Number.POSITIVE_INFINITY,
  });

  /** The prompt's first token ids as the model's engine will see them, or null. */
  async key(modelPath: string, prompt: PromptInput, tools: readonly ToolDefinition[]): Promise<readonly number[] | null> {
    try {
      const ids = await this.pool.run({ modelPath, prompt, tools });
      return ids === null ? null : Array.from(ids);
    } catch {
      return null;
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

// The n streams of an n-choice request, as one: events tagged with their choice index in arrival order, and the
// response's usage (the prompt counted once, as OpenAI does; completions summed). Transport-agnostic: HTTP and gRPC
// both render from this.

import type { Usage } from "../request/generate-request.js";
import type { StreamEvent, TokenStream } from "./token-stream.js";

export interface ChoiceEvent {
  readonly index: number;
  readonly event: StreamEvent;
}

type Pulled = { readonly index: number; readonly result: IteratorResult<StreamEvent> };

/**
 * Every choice's events as they arrive (each choice's own order kept). Leaving early (break, an error) aborts the
 * streams that have not ended: the engine frees their slots at its next step.
 */
export async function* mergeChoices(streams: readonly TokenStream[], iterators: readonly AsyncIterator<StreamEvent>[]): AsyncGenerator<ChoiceEvent> {
  const pending = new Map<number, Promise<Pulled>>();
  const pull = (index: number): void => {
    const it = iterators[index] as AsyncIterator<StreamEvent>;
    pending.set(
      index,
      it.next().then((result) => ({ index, result })),
    );
  };
  iterators.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done === true) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield { index, event: result.value };
    }
  } finally {
    for (const s of streams) if (!s.isEnded) s.abort();
  }
}

/** The usage of the whole response: one prompt (its least-cached computation), every choice's completion. */
export function combinedUsage(usages: readonly Usage[]): Usage {
  const first = usages[0] ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  return {
    promptTokens: first.promptTokens,
    completionTokens: usages.reduce((n, u) => n + u.completionTokens, 0),
    cachedTokens: Math.min(...usages.map((u) => u.cachedTokens)),
  };
}

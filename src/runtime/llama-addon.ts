// The one file that reaches into node-llama-cpp's internals (pinned to exactly 3.22.1 in package.json): the native
// context behind a LlamaContext and the native sampler class, typed as far as Loom uses them. Loom drives the batch
// itself through these (initBatch / addToBatch / decodeBatch / sampleToken, KV erase, copy, save and restore), so the engine owns
// what each llama_decode computes. nativeHandles() checks every member first and fails naming the missing one, so an
// upgrade that changes them fails at load (and in test/integration/backend-contract.test.ts), never mid-decode.

/** The native llama.cpp context (node-llama-cpp's AddonContext), as Loom uses it. */
export interface NativeContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenPosition: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<number>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler, probabilities: true): Promise<[token: number, probabilities: number[] | undefined]>;
  /** llama_memory_seq_rm: cells of [start, end) (end -1 = to the end); false when it could not. */
  removeTokenCellsFromSequence(sequenceId: number, start: number, end: number): boolean;
  /** llama_memory_seq_pos_max: the highest position held, -1 when empty. */
  getSequenceKvCacheMaxPosition(sequenceId: number): number;
  copySequenceStateFromOtherSequence(targetSequenceId: number, sourceSequenceId: number): Promise<number>;
  /** llama_state_seq_save_file: the sequence's KV cells (and these tokens) to a file; resolves to its size. */
  saveSequenceStateToFile(path: string, sequenceId: number, tokens: Uint32Array): Promise<number>;
  /** llama_state_seq_load_file: replaces the sequence's KV with the file's; resolves to the tokens it recorded. */
  loadSequenceStateFromFile(path: string, sequenceId: number, maxTokens: number): Promise<Uint32Array>;
  setThreads(threads: number): void;
}

/** The native sampler (node-llama-cpp's AddonSampler): one per request, configured with applyConfig. */
export interface NativeSampler {
  applyConfig(config: NativeSamplerConfig): void;
  dispose(): void;
}

/** applyConfig takes the whole configuration every time (absent fields reset); unchanged parts are kept, RNG too. */
export interface NativeSamplerConfig {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed: number;
  repeatPenalty?: number;
  repeatPenaltyMaxTokens?: number;
  repeatPenaltyTokens?: Uint32Array;
  repeatPenaltyPresencePenalty?: number;
  repeatPenaltyFrequencyPenalty?: number;
  tokenBiasKeys?: Uint32Array;
  tokenBiasValues?: Float32Array;
  /** A grammar state owned by this request alone (llama.cpp's grammar sampler, run before the chain). */
  grammarEvaluationState?: NativeGrammarState;
}

/** node-llama-cpp's AddonGrammarEvaluationState: one grammar's parse state (llama_sampler_init_grammar). */
export type NativeGrammarState = { readonly __nativeGrammarState: never };

export interface NativeHandles {
  readonly context: NativeContext;
  newSampler(): NativeSampler;
  /** Parses GBNF (throws when llama.cpp cannot) and returns a state at the grammar's start. */
  newGrammarState(grammar: string): NativeGrammarState;
  /** An independent copy of a state (llama_sampler_clone: no re-parse). */
  cloneGrammarState(state: NativeGrammarState): NativeGrammarState;
  /** Advances a state by one token's text; throws when the grammar does not allow it. */
  acceptGrammarToken(state: NativeGrammarState, token: number): void;
}

/** Every private member Loom uses, by the path it is reached at (what the capability test checks). */
export const REQUIRED_MEMBERS = [
  "LlamaContext._ctx.initBatch",
  "LlamaContext._ctx.addToBatch",
  "LlamaContext._ctx.decodeBatch",
  "LlamaContext._ctx.sampleToken",
  "LlamaContext._ctx.removeTokenCellsFromSequence",
  "LlamaContext._ctx.getSequenceKvCacheMaxPosition",
  "LlamaContext._ctx.copySequenceStateFromOtherSequence",
  "LlamaContext._ctx.saveSequenceStateToFile",
  "LlamaContext._ctx.loadSequenceStateFromFile",
  "LlamaContext._ctx.setThreads",
  "LlamaContextSequence._sequenceId",
  "LlamaModel._model",
  "LlamaModel._llama._bindings.AddonSampler",
  "LlamaModel._llama._bindings.AddonSampler.acceptGrammarEvaluationStateToken",
  "LlamaModel._llama._bindings.AddonGrammar",
  "LlamaModel._llama._bindings.AddonGrammarEvaluationState",
] as const;

export class AddonMismatchError extends Error {}

/**
 * The native handles behind a node-llama-cpp LlamaContext and its LlamaModel; throws naming what is missing. Each
 * of `sequences` (reserved with context.getSequence()) must be the llama.cpp sequence id of its index: Loom's slot.
 */
export function nativeHandles(context: object, model: object, sequences: readonly object[]): NativeHandles {
  const missing = missingMembers(context, model, sequences[0] ?? {});
  if (missing.length > 0) {
    throw new AddonMismatchError(`node-llama-cpp internals changed (Loom is built against 3.22.1): missing ${missing.join(", ")}`);
  }
  const ctx = (context as { _ctx: NativeContext })._ctx;
  const m = model as { _model: unknown; _llama: { _bindings: Bindings } };
  const bindings = m._llama._bindings;
  const Sampler = bindings.AddonSampler;
  sequences.forEach((seq, slot) => {
    const id = (seq as { _sequenceId?: unknown })._sequenceId;
    if (id !== slot) throw new AddonMismatchError(`node-llama-cpp gave sequence ${slot} the llama.cpp id ${String(id)}`);
  });
  return {
    context: ctx,
    newSampler: () => new Sampler(m._model),
    newGrammarState: (grammar) =>
      new bindings.AddonGrammarEvaluationState(m._model, new bindings.AddonGrammar(grammar, { addonExports: bindings, rootRuleName: "root" })),
    cloneGrammarState: (state) => new bindings.AddonGrammarEvaluationState(state),
    acceptGrammarToken: (state, token) => Sampler.acceptGrammarEvaluationStateToken(state, token),
  };
}

interface Bindings {
  readonly AddonSampler: (new (model: unknown) => NativeSampler) & {
    acceptGrammarEvaluationStateToken(state: NativeGrammarState, token: number): void;
  };
  readonly AddonGrammar: new (grammar: string, options: { addonExports: unknown; rootRuleName: string }) => object;
  readonly AddonGrammarEvaluationState: {
    new (model: unknown, grammar: object): NativeGrammarState;
    new (existing: NativeGrammarState): NativeGrammarState;
  };
}

/** The members of REQUIRED_MEMBERS that these objects lack. */
export function missingMembers(context: object, model: object, sequence: object): string[] {
  const roots: Record<string, unknown> = { LlamaContext: context, LlamaModel: model, LlamaContextSequence: sequence };
  return REQUIRED_MEMBERS.filter((path) => {
    const [root, ...keys] = path.split(".");
    let value: unknown = roots[root as string];
    for (const key of keys) value = typeof value === "object" || typeof value === "function" ? (value as Record<string, unknown> | null)?.[key] : undefined;
    const last = keys.at(-1) ?? "";
    if (last === "_sequenceId") return typeof value !== "number";
    const needsFunction = !last.startsWith("_") || last.startsWith("Addon");
    return needsFunction ? typeof value !== "function" : value === undefined || value === null;
  });
}

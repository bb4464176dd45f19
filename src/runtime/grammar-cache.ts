// Compiled grammars by text: llama.cpp parses a GBNF once here (a start state kept per distinct grammar, LRU), and
// each request gets its own clone of that state (llama_sampler_clone, no re-parse), never a shared one.

import { LoomError } from "../errors.js";
import type { NativeGrammarState } from "./llama-addon.js";

/** Distinct grammars kept parsed; a schema reused by many requests is parsed once. */
export const GRAMMAR_CACHE_ENTRIES = 64;

export interface GrammarFactory {
  newGrammarState(grammar: string): NativeGrammarState;
  cloneGrammarState(state: NativeGrammarState): NativeGrammarState;
}

export class GrammarCache {
  private readonly starts = new Map<string, NativeGrammarState>();

  constructor(
    private readonly native: GrammarFactory,
    private readonly capacity = GRAMMAR_CACHE_ENTRIES,
  ) {}

  /** Parses (or finds) a grammar; a GBNF llama.cpp cannot parse is the client's 400. */
  prepare(grammar: string): NativeGrammarState {
    const known = this.starts.get(grammar);
    if (known !== undefined) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.starts.delete(grammar);
      this.starts.set(grammar, known);
      return known;
    }
    let state: NativeGrammarState;
    try {
      state = this.native.newGrammarState(grammar);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new LoomError(
        "invalid_request",
        `The grammar could not be parsed by llama.cpp (${why}); check its GBNF syntax and that it defines \`root\`.`,
        "grammar",
      );
    }
    this.starts.set(grammar, state);
    while (this.starts.size > this.capacity) this.starts.delete(this.starts.keys().next().value as string);
    return state;
  }

  /** A state of its own for one request, at the grammar's start. */
  fresh(grammar: string): NativeGrammarState {
    return this.native.cloneGrammarState(this.prepare(grammar));
  }
}

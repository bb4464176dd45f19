// N-gram proposer (prompt lookup): the tokens that followed the latest earlier occurrence of the sequence's last n
// tokens (prompt and output alike), longest n first. No second model: it pays when outputs repeat their context
// (code edits, quoting, summaries, a greedy model in a cycle). Per sequence an index from each n-gram to where its
// latest occurrence ended, grown incrementally, so a proposal costs O(new tokens), not a scan of the history.

import type { Sequence } from "../sequence.js";
import type { DraftRequest, Proposer } from "./proposer.js";

export interface NgramOptions {
  /** Longest and shortest n-gram matched (llama-server's ngram-simple matches a fixed n; longer is more precise). */
  readonly maxN: number;
  readonly minN: number;
}

export const DEFAULT_NGRAM: NgramOptions = { maxN: 4, minN: 2 };

/** One sequence's index: n-gram key → index just past its latest occurrence that ends before `indexedTo`. */
interface NgramIndex {
  readonly ends: Map<string, number>;
  indexedTo: number;
}

export class NgramProposer implements Proposer {
  readonly name = "ngram" as const;
  private readonly indexes = new Map<string, NgramIndex>();

  constructor(private readonly opts: NgramOptions = DEFAULT_NGRAM) {
    if (!(opts.minN >= 1 && opts.maxN >= opts.minN)) throw new Error(`bad n-gram sizes ${opts.minN}..${opts.maxN}`);
  }

  propose(requests: readonly DraftRequest[]): Promise<ReadonlyMap<string, readonly number[]>> {
    const out = new Map<string, readonly number[]>();
    for (const r of requests) {
      const drafts = this.lookup(r.seq, r.k);
      if (drafts.length > 0) out.set(r.seq.id, drafts);
    }
    return Promise.resolve(out);
  }

  /** The continuation of the longest earlier match of the sequence's last n tokens (at most k tokens). */
  lookup(seq: Sequence, k: number): number[] {
    const total = seq.totalTokens;
    const index = this.indexFor(seq, total);
    for (let n = Math.min(this.opts.maxN, total - 1); n >= this.opts.minN; n--) {
      const end = index.ends.get(keyOf(seq, total - n, n));
      if (end === undefined) continue;
      const drafts: number[] = [];
      // The continuation may run into the suffix itself (a cycle): it is read from the tokens as they are.
      for (let i = end; i < total && drafts.length < k; i++) drafts.push(seq.tokenAt(i));
      if (drafts.length > 0) return drafts;
    }
    return [];
  }

  msPerDraftToken(): number {
    return 0;
  }

  forget(seq: Sequence): void {
    this.indexes.delete(seq.id);
  }

  dispose(): Promise<void> {
    this.indexes.clear();
    return Promise.resolve();
  }

  /** Every n-gram that ends before the last token is indexed (the suffix itself must match an earlier one). */
  private indexFor(seq: Sequence, total: number): NgramIndex {
    let index = this.indexes.get(seq.id);
    if (index === undefined) {
      index = { ends: new Map(), indexedTo: 0 };
      this.indexes.set(seq.id, index);
    }
    for (let end = Math.max(index.indexedTo, 1); end < total; end++) {
      for (let n = this.opts.minN; n <= this.opts.maxN && n <= end; n++) index.ends.set(keyOf(seq, end - n, n), end);
    }
    index.indexedTo = Math.max(index.indexedTo, total);
    return index;
  }
}

function keyOf(seq: Sequence, from: number, n: number): string {
  let key = String(seq.tokenAt(from));
  for (let i = 1; i < n; i++) key += "," + String(seq.tokenAt(from + i));
  return key;
}

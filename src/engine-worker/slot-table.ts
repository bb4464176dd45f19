// SlotTable: the one owner of an engine worker's slots (llama.cpp sequences) and what each slot's KV holds.
// The scheduler asks it for a slot; it picks the free slot whose cached tokens share the longest prefix with the
// new prompt, so a follow-up turn reuses its KV. It only records; the scheduler plans the erase of what a new
// occupant does not reuse, and the backend runs it.

export interface SlotAssignment {
  readonly slot: number;
  /** Leading prompt tokens already present in the slot's KV. */
  readonly reusedTokens: number;
  /** Tokens the slot's KV held before (a previous occupant's); beyond reusedTokens they must be erased. */
  readonly heldTokens: number;
}

export class SlotTable {
  private readonly owner: (string | null)[];
  /** Tokens whose KV each slot holds (kept after release, for prefix reuse). */
  private readonly cached: (readonly number[])[];

  constructor(readonly size: number) {
    this.owner = new Array<string | null>(size).fill(null);
    this.cached = Array.from({ length: size }, () => []);
  }

  get busy(): number {
    return this.owner.reduce((n, o) => (o === null ? n : n + 1), 0);
  }

  get free(): number {
    return this.size - this.busy;
  }

  ownerOf(slot: number): string | null {
    return this.owner[slot] ?? null;
  }

  /** Free slot sharing the longest prefix with `prompt`; ties go to the lowest index. Null when all are busy. */
  acquire(seqId: string, prompt: readonly number[]): SlotAssignment | null {
    let best: SlotAssignment | null = null;
    for (let slot = 0; slot < this.size; slot++) {
      if (this.owner[slot] !== null) continue;
      const shared = sharedPrefix(this.cached[slot] ?? [], prompt);
      if (best === null || shared > best.reusedTokens) best = { slot, reusedTokens: shared, heldTokens: this.cached[slot]?.length ?? 0 };
    }
    if (best === null) return null;
    // Keep at least one prompt token to evaluate: sampling needs the logits of the prompt's last position.
    const reusedTokens = Math.min(best.reusedTokens, prompt.length - 1);
    this.owner[best.slot] = seqId;
    return { slot: best.slot, reusedTokens: Math.max(0, reusedTokens), heldTokens: best.heldTokens };
  }

  /** Record the tokens now in the slot's KV (called as sequences advance and at release). */
  setCached(slot: number, tokens: readonly number[]): void {
    this.cached[slot] = tokens;
  }

  release(slot: number): void {
    this.owner[slot] = null;
  }

  /** Total KV cells holding live or cached tokens, for the KV-usage gauge. */
  cachedCells(): number {
    return this.cached.reduce((n, c) => n + c.length, 0);
  }
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

// HostTier: prefixes evicted from slots, kept as llama.cpp sequence-state files in a RAM-backed directory (a tmpfs
// such as /dev/shm), byte-bounded with least-recently-used eviction, and indexed by the same scope-keyed radix tree
// as the slots, so a prompt whose prefix no slot holds any more is restored instead of recomputed (vLLM's CPU
// offload, SGLang's HiCache). Pure bookkeeping: it names the files and decides; the backend writes, reads and
// deletes them as KV operations of a step. An entry counts only once its save is confirmed.

import { PrefixIndex } from "../cache/prefix-index.js";

export interface HostTierOptions {
  /** Directory the files go in (one per engine worker, created and removed by the worker). */
  readonly dir: string;
  /** Most bytes all files together may take. */
  readonly maxBytes: number;
  /** Estimated file bytes per token (measured at load), for room before a save's real size is known. */
  readonly bytesPerToken: number;
}

/** Prefixes shorter than this are not saved: recomputing them is about as cheap as a file round trip. */
export const HOST_MIN_TOKENS = 64;

interface Entry {
  readonly id: number;
  /** Scope-keyed tokens (slot-table.ts keyOf): what the file holds. */
  readonly key: readonly number[];
  readonly path: string;
  bytes: number;
  lastUsed: number;
  confirmed: boolean;
}

export interface PlannedSave {
  readonly path: string;
  /** Files to delete first, to make room. */
  readonly drops: readonly string[];
}

export interface HostTierStats {
  readonly entries: number;
  readonly bytes: number;
  readonly evictions: number;
}

export class HostTier {
  private readonly index = new PrefixIndex<number>();
  private readonly entries = new Map<number, Entry>();
  private readonly byPath = new Map<string, Entry>();
  private bytes = 0;
  private nextId = 0;
  private clock = 0;
  private evictions = 0;

  constructor(readonly opts: HostTierOptions) {}

  stats(): HostTierStats {
    return { entries: this.entries.size, bytes: this.bytes, evictions: this.evictions };
  }

  /** The confirmed entry sharing the longest prefix with `key` (length counts the scope key), or null. */
  longest(key: readonly number[]): { path: string; length: number } | null {
    const best = this.index.longest(key, (id) => this.entries.get(id)?.confirmed === true);
    if (best === null) return null;
    return { path: (this.entries.get(best.holder) as Entry).path, length: best.length };
  }

  /** Whether some entry (confirmed or being saved) holds all of `key`. */
  holds(key: readonly number[]): boolean {
    return (this.index.longest(key)?.length ?? 0) >= key.length;
  }

  /** A restore of this path is planned: it is recently used. */
  touch(path: string): void {
    const e = this.byPath.get(path);
    if (e !== undefined) e.lastUsed = ++this.clock;
  }

  /**
   * Plan saving a slot that holds `key`: the file to write and the files to drop (least recently used first, never
   * `keep`) so the tier stays within its bytes. Null when it cannot fit at all.
   */
  planSave(key: readonly number[], keep: string | null = null): PlannedSave | null {
    const estimate = Math.ceil((key.length - 1) * this.opts.bytesPerToken);
    if (estimate > this.opts.maxBytes) return null;
    const drops: string[] = [];
    while (this.bytes + estimate > this.opts.maxBytes) {
      const victim = this.leastRecentlyUsed(keep);
      if (victim === null) break;
      drops.push(victim.path);
      this.forget(victim);
      this.evictions++;
    }
    const id = ++this.nextId;
    const entry: Entry = { id, key, path: `${this.opts.dir}/${id}.kv`, bytes: estimate, lastUsed: ++this.clock, confirmed: false };
    this.entries.set(id, entry);
    this.byPath.set(entry.path, entry);
    this.index.set(id, key);
    this.bytes += estimate;
    return { path: entry.path, drops };
  }

  /** The step ran: the save wrote `bytes` (undefined: it failed, and the entry is forgotten). */
  confirm(path: string, bytes: number | undefined): void {
    const e = this.byPath.get(path);
    if (e === undefined) return;
    if (bytes === undefined) return this.forget(e);
    this.bytes += bytes - e.bytes;
    e.bytes = bytes;
    e.confirmed = true;
  }

  /** Every file the tier holds (to delete at shutdown). */
  paths(): string[] {
    return [...this.byPath.keys()];
  }

  /** The least recently used confirmed entry other than `keep` (a file this step restores). */
  private leastRecentlyUsed(keep: string | null): Entry | null {
    let pick: Entry | null = null;
    for (const e of this.entries.values()) if (e.confirmed && e.path !== keep && (pick === null || e.lastUsed < pick.lastUsed)) pick = e;
    return pick;
  }

  private forget(e: Entry): void {
    this.entries.delete(e.id);
    this.byPath.delete(e.path);
    this.index.delete(e.id);
    this.bytes -= e.bytes;
  }
}

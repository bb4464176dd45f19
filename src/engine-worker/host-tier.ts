// HostTier: prefixes evicted from slots, kept as llama.cpp sequence-state files in a RAM-backed directory (a tmpfs
// such as /dev/shm) and optionally a second, larger one on disk that the RAM tier's evictions move to, each
// byte-bounded with least-recently-used eviction, and indexed by the same scope-keyed radix tree
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
  /** A second, larger tier on disk (--kv-disk-dir): files evicted from `dir` move there instead of being deleted. */
  readonly disk?: { readonly dir: string; readonly maxBytes: number };
}

/** Prefixes shorter than this are not saved: recomputing them is about as cheap as a file round trip. */
export const HOST_MIN_TOKENS = 64;

/**
 * Share of the RAM tier's bytes that entries with shown reuse (saved after serving a hit, or restored since) may
 * fill before they are evicted ahead of unproven ones (a segmented LRU): a stream of unique prompts cannot flush a
 * conversation that is reused, and the rest always takes new content, so a cycle through more prompts than slots is
 * caught.
 */
export const PROTECTED_SHARE = 0.75;

type Tier = "ram" | "disk";

interface Entry {
  readonly id: number;
  /** Scope-keyed tokens (slot-table.ts keyOf): what the file holds. */
  readonly key: readonly number[];
  path: string;
  tier: Tier;
  bytes: number;
  lastUsed: number;
  /** False while the step that writes (or moves) its file has not reported. */
  confirmed: boolean;
  /** Its content has shown reuse: protected from unproven entries' eviction (PROTECTED_SHARE). */
  proven: boolean;
}

export interface PlannedSave {
  readonly path: string;
  /** Files to delete first, to make room. */
  readonly drops: readonly string[];
  /** Files to move from the RAM tier to the disk tier (after the drops, before the save). */
  readonly moves: readonly { readonly from: string; readonly to: string }[];
}

export interface HostTierStats {
  readonly entries: number;
  readonly bytes: number;
  readonly evictions: number;
  readonly diskEntries: number;
  readonly diskBytes: number;
}

export class HostTier {
  private readonly index = new PrefixIndex<number>();
  private readonly entries = new Map<number, Entry>();
  private readonly byPath = new Map<string, Entry>();
  private readonly bytes: Record<Tier, number> = { ram: 0, disk: 0 };
  private nextId = 0;
  private clock = 0;
  private evictions = 0;

  constructor(readonly opts: HostTierOptions) {}

  stats(): HostTierStats {
    let diskEntries = 0;
    for (const e of this.entries.values()) if (e.tier === "disk") diskEntries++;
    return { entries: this.entries.size - diskEntries, bytes: this.bytes.ram, evictions: this.evictions, diskEntries, diskBytes: this.bytes.disk };
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

  /** A restore of this path is planned: it is recently used, and has shown reuse. */
  touch(path: string): void {
    const e = this.byPath.get(path);
    if (e === undefined) return;
    e.lastUsed = ++this.clock;
    e.proven = true;
  }

  /**
   * Plan saving a slot that holds `key` (`proven`: its content has served reuse): the file to write, and to make
   * room in the RAM tier the least recently used files (unproven ones first while proven ones fill at most
   * PROTECTED_SHARE) moved to the disk tier (when there is one; its own least recently used dropped to make room
   * there) or dropped, never `keep`. Null when it cannot fit at all.
   */
  planSave(key: readonly number[], keep: string | null = null, proven = true): PlannedSave | null {
    const estimate = Math.ceil((key.length - 1) * this.opts.bytesPerToken);
    if (estimate > this.opts.maxBytes) return null;
    const drops: string[] = [];
    const moves: { from: string; to: string }[] = [];
    while (this.bytes.ram + estimate > this.opts.maxBytes) {
      const victim = this.ramVictim(keep);
      if (victim === null) break;
      this.evictions++;
      if (!this.demote(victim, keep, drops, moves)) {
        drops.push(victim.path);
        this.forget(victim);
      }
    }
    const id = ++this.nextId;
    const entry: Entry = { id, key, path: `${this.opts.dir}/${id}.kv`, tier: "ram", bytes: estimate, lastUsed: ++this.clock, confirmed: false, proven };
    this.entries.set(id, entry);
    this.byPath.set(entry.path, entry);
    this.index.set(id, key);
    this.bytes.ram += estimate;
    return { path: entry.path, drops, moves };
  }

  /** The step ran: the save or move into `path` wrote `bytes` (undefined: it failed, and the entry is forgotten). */
  confirm(path: string, bytes: number | undefined): void {
    const e = this.byPath.get(path);
    if (e === undefined) return;
    if (bytes === undefined) return this.forget(e);
    this.bytes[e.tier] += bytes - e.bytes;
    e.bytes = bytes;
    e.confirmed = true;
  }

  /** Move a RAM entry to the disk tier, dropping the disk tier's least recently used to make room; false: no room. */
  private demote(victim: Entry, keep: string | null, drops: string[], moves: { from: string; to: string }[]): boolean {
    const disk = this.opts.disk;
    if (disk === undefined || victim.bytes > disk.maxBytes) return false;
    while (this.bytes.disk + victim.bytes > disk.maxBytes) {
      const old = this.leastRecentlyUsed("disk", keep);
      if (old === null) return false;
      drops.push(old.path);
      this.forget(old);
    }
    const to = `${disk.dir}/${victim.id}.kv`;
    moves.push({ from: victim.path, to });
    this.byPath.delete(victim.path);
    this.bytes.ram -= victim.bytes;
    this.bytes.disk += victim.bytes;
    victim.path = to;
    victim.tier = "disk";
    victim.confirmed = false;
    this.byPath.set(to, victim);
    return true;
  }

  /** The RAM entry to evict next: the least recently used of the unproven, unless proven ones fill their share. */
  private ramVictim(keep: string | null): Entry | null {
    let provenBytes = 0;
    for (const e of this.entries.values()) if (e.tier === "ram" && e.proven) provenBytes += e.bytes;
    const pool = provenBytes > PROTECTED_SHARE * this.opts.maxBytes;
    return this.leastRecentlyUsed("ram", keep, pool) ?? this.leastRecentlyUsed("ram", keep);
  }

  /** The least recently used confirmed entry of a tier (of `proven` ones only, when given) other than `keep` (a file this step restores). */
  private leastRecentlyUsed(tier: Tier, keep: string | null, proven?: boolean): Entry | null {
    let pick: Entry | null = null;
    for (const e of this.entries.values()) {
      if (e.tier !== tier || !e.confirmed || e.path === keep || (proven !== undefined && e.proven !== proven)) continue;
      if (pick === null || e.lastUsed < pick.lastUsed) pick = e;
    }
    return pick;
  }

  private forget(e: Entry): void {
    this.entries.delete(e.id);
    this.byPath.delete(e.path);
    this.index.delete(e.id);
    this.bytes[e.tier] -= e.bytes;
  }
}

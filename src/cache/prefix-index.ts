// PrefixIndex: a radix tree over token ids recording which holder (a slot's KV; later a host-tier entry) holds which
// token sequence, so "who holds the longest prefix of this prompt, and how long is it for each holder" is one walk
// down the prompt instead of a comparison with every holder (SGLang's RadixAttention tree, without its KV pages:
// llama.cpp keeps a sequence's KV in its own stream, so a holder is a whole sequence, not shared blocks).
//
// Pure data, no model. Invariants: a node exists only while some holder's sequence passes through all of its edge;
// every holder's sequence ends exactly at a node boundary (edges are split on insert), at the node that lists it.

interface RadixNode<H> {
  /** Tokens on the edge from the parent to this node (empty only for the root). */
  edge: number[];
  /** Tokens from the root to the end of this node's edge. */
  depth: number;
  parent: RadixNode<H> | null;
  readonly children: Map<number, RadixNode<H>>;
  /** Holders whose sequence ends here. */
  readonly ends: Set<H>;
}

export interface PrefixMatch<H> {
  readonly holder: H;
  /** Leading tokens of the query this holder's sequence shares. */
  readonly length: number;
}

export class PrefixIndex<H> {
  private readonly root: RadixNode<H> = newNode([], 0, null);
  private readonly endOf = new Map<H, RadixNode<H>>();

  get holders(): number {
    return this.endOf.size;
  }

  /** Tokens the holder's recorded sequence has (0 when unknown). */
  lengthOf(holder: H): number {
    return this.endOf.get(holder)?.depth ?? 0;
  }

  /** Record that `holder` now holds exactly `tokens` (replacing what it held). */
  set(holder: H, tokens: readonly number[]): void {
    this.delete(holder);
    if (tokens.length === 0) return;
    let node = this.root;
    let i = 0;
    while (i < tokens.length) {
      const child = node.children.get(tokens[i] as number);
      if (child === undefined) {
        const leaf = newNode(tokens.slice(i), tokens.length, node);
        node.children.set(tokens[i] as number, leaf);
        node = leaf;
        break;
      }
      const common = commonLength(child.edge, tokens, i);
      node = common < child.edge.length ? split(child, common) : child;
      i += common;
    }
    node.ends.add(holder);
    this.endOf.set(holder, node);
  }

  /** Forget what `holder` holds; nodes no other holder passes through are pruned. */
  delete(holder: H): void {
    const node = this.endOf.get(holder);
    if (node === undefined) return;
    this.endOf.delete(holder);
    node.ends.delete(holder);
    prune(node);
  }

  /** Every holder's shared prefix length with `query` (holders sharing nothing are absent). */
  matchAll(query: readonly number[]): Map<H, number> {
    const out = new Map<H, number>();
    const label = (n: RadixNode<H>, length: number): void => forEachHolderBelow(n, (h) => out.set(h, length));
    let node = this.root;
    let i = 0;
    for (;;) {
      const child = i < query.length ? node.children.get(query[i] as number) : undefined;
      const common = child === undefined ? 0 : commonLength(child.edge, query, i);
      // Holders ending at `node` or branching off it elsewhere share exactly the i tokens down to it.
      if (i > 0) {
        for (const h of node.ends) out.set(h, i);
        for (const other of node.children.values()) if (other !== child) label(other, i);
      }
      if (child === undefined) return out;
      if (common < child.edge.length) {
        label(child, i + common);
        return out;
      }
      node = child;
      i += common;
    }
  }

  /** A holder sharing the longest prefix with `query` (among those `accept` allows), or null when none shares one. */
  longest(query: readonly number[], accept: (holder: H) => boolean = () => true): PrefixMatch<H> | null {
    let best: PrefixMatch<H> | null = null;
    for (const [holder, length] of this.matchAll(query)) {
      if (accept(holder) && (best === null || length > best.length)) best = { holder, length };
    }
    return best;
  }
}

function newNode<H>(edge: number[], depth: number, parent: RadixNode<H> | null): RadixNode<H> {
  return { edge, depth, parent, children: new Map(), ends: new Set() };
}

/** Tokens `edge` shares with `tokens` from `offset`. */
function commonLength(edge: readonly number[], tokens: readonly number[], offset: number): number {
  const n = Math.min(edge.length, tokens.length - offset);
  let k = 0;
  while (k < n && edge[k] === tokens[offset + k]) k++;
  return k;
}

/**
 * Cut `node`'s edge after `at` tokens: a new parent takes the first part, `node` keeps the rest and its subtree.
 * Returns the new parent.
 */
function split<H>(node: RadixNode<H>, at: number): RadixNode<H> {
  const parent = node.parent as RadixNode<H>;
  const head = newNode<H>(node.edge.slice(0, at), node.depth - node.edge.length + at, parent);
  parent.children.set(node.edge[0] as number, head);
  node.edge = node.edge.slice(at);
  node.parent = head;
  head.children.set(node.edge[0] as number, node);
  return head;
}

/** Remove nodes that no holder ends at or passes through; merge a node left with one child and no holders. */
function prune<H>(start: RadixNode<H>): void {
  let node: RadixNode<H> | null = start;
  while (node?.parent != null && node.ends.size === 0 && node.children.size === 0) {
    const parent: RadixNode<H> = node.parent;
    parent.children.delete(node.edge[0] as number);
    node = parent;
  }
  if (node?.parent != null && node.ends.size === 0 && node.children.size === 1) merge(node);
}

/** A holderless node with one child becomes part of the child's edge (keeps the tree compressed). */
function merge<H>(node: RadixNode<H>): void {
  const [child] = node.children.values() as IterableIterator<RadixNode<H>>;
  const parent = node.parent as RadixNode<H>;
  if (child === undefined) return;
  child.edge = [...node.edge, ...child.edge];
  child.parent = parent;
  parent.children.set(child.edge[0] as number, child);
}

function forEachHolderBelow<H>(node: RadixNode<H>, visit: (holder: H) => void): void {
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop() as RadixNode<H>;
    for (const h of n.ends) visit(h);
    for (const c of n.children.values()) stack.push(c);
  }
}

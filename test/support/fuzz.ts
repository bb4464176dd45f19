// Seeded input mutation for the fuzz suite: random JSON values and mutations of valid requests (fields dropped,
// retyped, set to extreme or odd values, garbage added). Deterministic for a seed, so a failure names its input.

import { Xoshiro128 } from "../../models/prng.js";

export class Fuzz {
  private readonly rng: Xoshiro128;

  constructor(seed: number) {
    this.rng = new Xoshiro128(seed);
  }

  /** [0, 1). */
  next(): number {
    return this.rng.nextU32() / 2 ** 32;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** An odd value of any JSON type (and a few that JSON.stringify turns into null). */
  value(depth = 0): unknown {
    const strings = ["", " ", "x", "tiny", "null", "-1", "1e309", "NaN", "<s>", "</s>", "\u0000", "\ud800", "😀", "%zz", "a".repeat(300), "\n\n", "user"];
    const numbers = [0, -1, 1, 0.5, -0.0, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 1e-300, 4096, 4097, 3.7];
    switch (this.int(depth > 3 ? 5 : 7)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick(numbers);
      case 3:
        return this.pick(strings);
      case 4:
        return this.chance(0.5) ? "x".repeat(this.int(5000)) : this.int(1_000_000) - 500_000;
      case 5:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: this.int(4) }, () => [this.pick(["role", "content", "type", "text", "model", "x", ""]), this.value(depth + 1)]),
        );
    }
  }

  /** A copy of `base` with one to three fields dropped, retyped or added. */
  mutate(base: Record<string, unknown>, extraKeys: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = structuredClone(base);
    const keys = [...Object.keys(base), ...extraKeys];
    for (let i = 0, n = 1 + this.int(3); i < n; i++) {
      const key = this.pick(keys);
      const r = this.next();
      if (r < 0.15) delete out[key];
      else if (r < 0.3 && Array.isArray(out[key])) out[key] = [...(out[key] as unknown[]), this.value()];
      else if (r < 0.4 && Array.isArray(out[key]) && (out[key] as unknown[]).length > 0) {
        const list = [...(out[key] as unknown[])];
        const j = this.int(list.length);
        const item = list[j];
        list[j] = typeof item === "object" && item !== null ? this.mutate(item as Record<string, unknown>, ["name", "tool_calls", "x"]) : this.value();
        out[key] = list;
      } else out[key] = this.value();
    }
    return out;
  }
}

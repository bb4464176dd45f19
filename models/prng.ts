// Seeded, platform-independent random numbers for synthetic weights: xoshiro128** for uniforms,
// Box–Muller for normals, and a name hash so every tensor gets its own stream (independent of the
// order tensors are generated in, which is what lets a draft and a target model share layers exactly).

/** 32-bit FNV-1a of the tensor name, mixed with the user seed through a murmur3 finaliser. */
export function deriveSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** xoshiro128** seeded through splitmix32 (so nearby seeds still give unrelated streams). */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const splitmix = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.s0 = splitmix();
    this.s1 = splitmix();
    this.s2 = splitmix();
    this.s3 = splitmix();
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * Stateful N(0, std²) stream. The spare Box–Muller value is kept between calls, so the sequence
 * does not depend on how callers split it into chunks. V8's Math.log/cos/sin are fdlibm ports,
 * so the same seed gives the same bits on every platform Node runs on.
 */
export class NormalStream {
  private readonly rng: Xoshiro128;
  private spare: number | null = null;

  constructor(
    seed: number,
    private readonly std: number,
  ) {
    this.rng = new Xoshiro128(seed);
  }

  fill(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.next() * this.std;
    return out;
  }

  private next(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    // 1 - u keeps u1 in (0, 1], so log() never sees zero.
    const u1 = 1 - this.rng.nextU32() / 4294967296;
    const u2 = this.rng.nextU32() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

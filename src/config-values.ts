// Parsers for single flag values of the server config (config.ts): each takes the raw value with where it came
// from (flag or LOOM_* variable) and returns the typed value or throws a ConfigError naming the source.

import { basename } from "node:path";

export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export interface ModelSpec {
  readonly name: string;
  readonly path: string;
}

export type Lookup = (flag: string) => Raw | null;

/** A raw value and where it came from, so every error can name the flag (and the env var when that supplied it). */
export interface Raw {
  readonly value: string;
  readonly source: string;
}

export function fail(raw: Raw, expected: string): never {
  throw new ConfigError(`${raw.source}: expected ${expected}, got ${JSON.stringify(raw.value)}`);
}

export function int(raw: Raw | null, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === null) return dflt;
  const n = /^-?\d+$/.test(raw.value) ? Number(raw.value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(raw, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`);
  }
  return n;
}

export function oneOf<T extends string>(raw: Raw | null, dflt: T, allowed: readonly T[]): T {
  if (raw === null) return dflt;
  const found = allowed.find((a) => a === raw.value.toLowerCase());
  return found ?? fail(raw, `one of ${allowed.join(", ")}`);
}

export function seconds(raw: Raw | null, dflt: number): number {
  if (raw === null) return dflt * 1000;
  const s = /^\d+(\.\d+)?$/.test(raw.value) ? Number(raw.value) : Number.NaN;
  const ms = Math.round(s * 1000);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : fail(raw, "a positive number of seconds");
}

export function gpuLayers(raw: Raw | null): number | "max" {
  if (raw === null) return "max";
  const v = raw.value.toLowerCase();
  // llama-server spells "all layers" as a large number or "all"; accept "all" as a synonym of "max".
  if (v === "max" || v === "all") return "max";
  return int(raw, 0, 0);
}

/** `name=path` or `path`; the name defaults to the file name without its .gguf extension. */
export function modelSpec(raw: Raw): ModelSpec {
  const eq = raw.value.indexOf("=");
  const name = eq < 0 ? basename(raw.value).replace(/\.gguf$/i, "") : raw.value.slice(0, eq).trim();
  const path = eq < 0 ? raw.value : raw.value.slice(eq + 1).trim();
  if (name === "" || path === "") fail(raw, "name=path or a path to a .gguf file");
  return Object.freeze({ name, path });
}

export function models(raws: readonly Raw[]): readonly ModelSpec[] {
  const specs = raws.map(modelSpec);
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const raw = raws[i];
    if (seen.has(spec.name) && raw !== undefined) fail(raw, `a model name not used twice (${spec.name})`);
    seen.add(spec.name);
  });
  return Object.freeze(specs);
}

export function grpcPort(raw: Raw | null): number | null {
  if (raw !== null && raw.value.toLowerCase() === "off") return null;
  return int(raw, 50051, 0, 65535);
}

/** One TLS file without the other would silently serve plaintext: refuse to start instead. */
/** A certificate flag and its key flag: both or neither. */
export function pemPair(one: Lookup, certFlag: string, keyFlag: string): { cert: string; key: string } | null {
  const cert = one(certFlag);
  const key = one(keyFlag);
  if (cert === null && key === null) return null;
  if (cert === null || key === null) {
    const given = (cert ?? key) as Raw;
    throw new ConfigError(`${given.source}: ${certFlag} and ${keyFlag} go together; give both PEM files or neither`);
  }
  for (const raw of [cert, key]) if (raw.value === "") fail(raw, "a PEM file path");
  return { cert: cert.value, key: key.value };
}

export function corsOrigins(raws: readonly Raw[]): readonly string[] {
  return Object.freeze(
    raws.map((raw) => {
      if (raw.value === "*") return raw.value;
      // An origin is scheme://host[:port], nothing more (what browsers send in Origin).
      const ok = URL.canParse(raw.value) && new URL(raw.value).origin === raw.value;
      return ok ? raw.value : fail(raw, "an origin such as https://app.example.com (no path), or *");
    }),
  );
}

export function bool(raw: Raw | null): boolean {
  if (raw === null) return false;
  const v = raw.value.toLowerCase();
  if (v === "true" || v === "1" || v === "yes") return true;
  return v === "false" || v === "0" || v === "no" ? false : fail(raw, "true or false");
}

export function nonEmpty(raw: Raw | null): string | null {
  if (raw === null) return null;
  return raw.value !== "" ? raw.value : fail(raw, "a directory path");
}

export function url(raw: Raw | null): string | null {
  if (raw === null) return null;
  return URL.canParse(raw.value) ? raw.value : fail(raw, "an absolute URL such as http://127.0.0.1:4318/v1/traces");
}

export function host(raw: Raw | null): string {
  if (raw === null) return "127.0.0.1";
  return raw.value !== "" ? raw.value : fail(raw, "a host name or address");
}

export function apiKeys(raws: readonly Raw[]): readonly string[] {
  return Object.freeze(raws.map((raw) => (raw.value !== "" ? raw.value : fail(raw, "a non-empty key"))));
}

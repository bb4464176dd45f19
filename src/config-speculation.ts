// The speculative-decoding flags (--spec-draft-model/-md, --spec-type, --spec-draft-n-max/-n-min), llama-server's
// names and meanings, parsed together because they depend on each other and on the served models.

import { ConfigError, fail, int, type Lookup, type ModelSpec, type Raw } from "./config-values.js";

export interface SpeculationConfig {
  readonly draftModels: readonly DraftModelSpec[];
  readonly specTypes: readonly SpecType[];
  readonly specDraftNMax: number;
  readonly specDraftNMin: number;
}

export type SpecType = "draft" | "ngram";

/** A draft model for one served model (name null: for every model). */
export interface DraftModelSpec {
  readonly model: string | null;
  readonly path: string;
}

/**
 * Drafts per step at most: the policy picks fewer where acceptance or the measured step costs say so. 48 is
 * llama-server's n-gram draft size; on the n-gram copy row (Sapphire Rapids, 2026-12-06) 32 capped one stream at
 * 867–884 tok/s against 1,146–1,173 with 48, while the draft-model rows, whose acceptance keeps drafts short, did not
 * move.
 */
export const DEFAULT_SPEC_N_MAX = 48;
/** llama-server's --spec-type names that mean Loom's proposers. */
const SPEC_TYPE_NAMES: Readonly<Record<string, SpecType | "none">> = {
  none: "none",
  draft: "draft",
  "draft-simple": "draft",
  ngram: "ngram",
  "ngram-simple": "ngram",
};

/**
 * `model=path` when the part before `=` is a served model's name (names may hold `/`) or holds no `/` (then it must
 * name one); otherwise the whole value is a path, for every model.
 */
function draftModel(raw: Raw, served: readonly ModelSpec[]): DraftModelSpec {
  const eq = raw.value.indexOf("=");
  const name = eq > 0 ? raw.value.slice(0, eq).trim() : "";
  const named = eq > 0 && (served.some((m) => m.name === name) || !name.includes("/"));
  const path = (named ? raw.value.slice(eq + 1) : raw.value).trim();
  if (path === "") fail(raw, "a draft GGUF path, `path` or `model=path`");
  if (named && !served.some((m) => m.name === name)) throw new ConfigError(`${raw.source}: no served model is named ${JSON.stringify(name)}`);
  return { model: named ? name : null, path };
}

/** The flags, checked against each other and the served models (errors name the flag). */
export function speculation(one: Lookup, list: (flag: string) => readonly Raw[], served: readonly ModelSpec[]): SpeculationConfig {
  const draftModels = list("--spec-draft-model").map((raw) => draftModel(raw, served));
  const typeRaw = one("--spec-type");
  let specTypes: SpecType[] = draftModels.length > 0 ? ["draft"] : [];
  if (typeRaw !== null) {
    const names = typeRaw.value.split(",").map((n) => n.trim().toLowerCase());
    const types = names.map((n) =>
      Object.hasOwn(SPEC_TYPE_NAMES, n) ? (SPEC_TYPE_NAMES[n] as SpecType | "none") : fail(typeRaw, "none, draft, ngram or a comma list of draft and ngram"),
    );
    if (types.includes("none") && types.length > 1) fail(typeRaw, "`none` alone, or a list of draft and ngram");
    specTypes = [...new Set(types.filter((t): t is SpecType => t !== "none"))];
  }
  if (specTypes.includes("draft") && draftModels.length === 0 && typeRaw !== null) {
    throw new ConfigError(`${typeRaw.source}: \`draft\` needs a draft model (--spec-draft-model)`);
  }
  const nMax = int(one("--spec-draft-n-max"), DEFAULT_SPEC_N_MAX, 1, 64);
  const nMinRaw = one("--spec-draft-n-min");
  // llama-server's default n-min is 0: no minimum, the same as 1.
  const nMin = Math.max(1, int(nMinRaw, 1, 0, 64));
  if (nMin > nMax && nMinRaw !== null) fail(nMinRaw, `at most --spec-draft-n-max (${nMax})`);
  return { draftModels, specTypes, specDraftNMax: nMax, specDraftNMin: Math.min(nMin, nMax) };
}

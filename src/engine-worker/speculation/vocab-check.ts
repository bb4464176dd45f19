// A draft model's guesses are token ids of its own vocabulary: they mean the same text to the target only when the
// two vocabularies are the same, id for id. Checked once at start-up over every id (llama-server checks the size
// and a range of ids); a mismatch refuses to start with what differs.

import type { ModelBackend } from "../../runtime/model-backend.js";

/** Why the draft cannot serve this target, or null when their vocabularies are identical. */
export function vocabularyMismatch(target: ModelBackend, draft: ModelBackend): string | null {
  const a = target.info.vocabSize;
  const b = draft.info.vocabSize;
  if (a !== b) return `the draft model's vocabulary has ${b} tokens, the target's ${a}`;
  for (let id = 0; id < a; id++) {
    const t = target.detokenize([id], true);
    const d = draft.detokenize([id], true);
    if (t !== d) return `token ${id} is ${JSON.stringify(t)} in the target and ${JSON.stringify(d)} in the draft model`;
    if (target.isEog(id) !== draft.isEog(id)) return `token ${id} ends generation in one model and not in the other`;
  }
  return null;
}

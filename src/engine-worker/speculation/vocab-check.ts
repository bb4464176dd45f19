// A draft model's guesses are token ids of its own vocabulary: they mean the same text to the target only when the
// two vocabularies are the same, id for id. Checked once at start-up over every id both have; as llama-server, the
// sizes may differ by up to 128 (GGUF token lists are padded to a model's configured vocabulary size: Qwen2.5's
// small and large models differ so). A draft's guess outside the target's vocabulary is never verified. A mismatch
// refuses to start with what differs.

import type { ModelBackend } from "../../runtime/model-backend.js";

/** llama-server's SPEC_VOCAB_MAX_SIZE_DIFFERENCE. */
const MAX_SIZE_DIFFERENCE = 128;

/** Why the draft cannot serve this target, or null when their vocabularies are identical. */
export function vocabularyMismatch(target: ModelBackend, draft: ModelBackend): string | null {
  const a = target.info.vocabSize;
  const b = draft.info.vocabSize;
  if (Math.abs(a - b) > MAX_SIZE_DIFFERENCE) return `the draft model's vocabulary has ${b} tokens, the target's ${a}`;
  for (let id = 0; id < Math.min(a, b); id++) {
    const t = target.detokenize([id], true);
    const d = draft.detokenize([id], true);
    if (t !== d) return `token ${id} is ${JSON.stringify(t)} in the target and ${JSON.stringify(d)} in the draft model`;
    if (target.isEog(id) !== draft.isEog(id)) return `token ${id} ends generation in one model and not in the other`;
  }
  return null;
}

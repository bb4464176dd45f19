// The native-build smoke test, run in a child process of its own (native/README.md, src/support/native-build-check.ts):
// load llama.cpp exactly as an engine would (`--native-build auto`), then prefill and decode through the engine's own
// executor on an F16 and a Q8_0 model, the paths where a -march=native build has died with SIGILL (an AMX Q8_0
// kernel on Sapphire Rapids). A crash kills only this process; the parent then serves with the prebuilt binary.
// Prints one JSON line {"ok":true,"buildType":…} and exits 0 when every decode ran.
// Usage: node dist/src/runtime/smoke-decode.js <f16.gguf> <q8_0.gguf>

import { DEFAULT_SAMPLING } from "../request/generate-request.js";
import { loadLlamaBackend } from "./llama-backend.js";
import type { SequenceSampling } from "./model-backend.js";

async function smoke(modelPath: string): Promise<string> {
  const backend = await loadLlamaBackend({
    modelPath,
    slots: 2,
    slotContextSize: 256,
    ubatchSize: 128,
    flashAttn: "auto",
    threads: 1,
    threadsBatch: 2,
    gpu: "cpu",
    gpuLayers: 0,
    nativeBuild: "auto",
    log: () => {},
  });
  try {
    const s: SequenceSampling = { params: { ...DEFAULT_SAMPLING, temperature: 0 }, logprobs: null, suppressEog: true, outputTokens: [] };
    // A 64-token prefill (batched matmul kernels) in two slots, then single-token decodes (vector kernels).
    const prompt = Array.from({ length: 64 }, (_, i) => 100 + i);
    const entries = [0, 1].map((slot) => ({ seqId: `s${slot}`, slot, start: 0, tokens: prompt, sampleAt: [prompt.length - 1], outputIndex: 0 }));
    let r = await backend.step({ step: 1, kvOps: [], entries, decodeTokens: 0, prefillTokens: 128 }, () => s);
    for (let i = 0; i < 4; i++) {
      const token = r.sampled.get("s0")?.[0]?.token ?? 1;
      r = await backend.step(
        {
          step: 2 + i,
          kvOps: [],
          entries: [{ seqId: "s0", slot: 0, start: 64 + i, tokens: [token], sampleAt: [0], outputIndex: i }],
          decodeTokens: 1,
          prefillTokens: 0,
        },
        () => s,
      );
    }
    backend.releaseSampling(s);
    return backend.info.buildType;
  } finally {
    await backend.dispose();
  }
}

async function main(paths: readonly string[]): Promise<void> {
  if (process.env.LOOM_FAULT_INJECTION === "smoke-sigill") process.kill(process.pid, "SIGILL"); // the crash test
  let buildType = "";
  for (const path of paths) buildType = await smoke(path);
  process.stdout.write(`${JSON.stringify({ ok: true, buildType })}\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`smoke decode failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

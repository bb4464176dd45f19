// How batch composition changes outputs: each probe request runs alone, then again while 7 other requests share
// its steps. llama.cpp's kernels are not batch-invariant (a different batch shape can change the last bits of the
// logits), so greedy or seeded outputs may diverge; this measures how often and how early.

import type { BenchConfig } from "../bench-config.js";
import { serverFlags } from "../bench-config.js";
import { makePrompt } from "../load-generator.js";
import { startBenchServer, warmUp } from "../server-process.js";

export interface InvarianceResult {
  readonly probes: number;
  readonly mode: string;
  readonly identical: number;
  /** Characters in common before the first difference, for probes that diverged. */
  readonly divergedAtChars: readonly number[];
}

const TOKENS = 64;

export async function runBatchInvariance(cfg: BenchConfig): Promise<InvarianceResult[]> {
  const server = await startBenchServer(serverFlags(cfg, ["--parallel", "16", "--ctx-size", String(16 * 512)]));
  try {
    await warmUp(server.url, cfg.modelName);
    const out: InvarianceResult[] = [];
    for (const mode of [
      { name: "greedy", temperature: 0 },
      { name: "seeded, temperature 1", temperature: 1 },
    ]) {
      out.push(await probe(server.url, cfg.modelName, mode.name, mode.temperature, cfg.quick ? 3 : 6));
    }
    return out;
  } finally {
    await server.stop();
  }
}

async function probe(url: string, model: string, mode: string, temperature: number, probes: number): Promise<InvarianceResult> {
  let identical = 0;
  const divergedAtChars: number[] = [];
  for (let p = 0; p < probes; p++) {
    const prompt = makePrompt(96, 0, Math.random);
    const alone = await complete(url, model, prompt, temperature, 1000 + p);
    const neighbours = Array.from({ length: 7 }, (_, i) => complete(url, model, makePrompt(96, 0, Math.random), temperature, 5000 + i));
    const batched = await complete(url, model, prompt, temperature, 1000 + p);
    await Promise.all(neighbours);
    if (alone === batched) identical++;
    else divergedAtChars.push(commonPrefix(alone, batched));
  }
  return { probes, mode, identical, divergedAtChars };
}

async function complete(url: string, model: string, prompt: number[], temperature: number, seed: number): Promise<string> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt, max_tokens: TOKENS, temperature, seed, ignore_eos: true }),
  });
  const body = (await res.json()) as { choices: { text: string }[] };
  return body.choices[0]?.text ?? "";
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

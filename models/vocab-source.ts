// Offline source of real tokenizer vocabularies: llama.cpp's vocab-only test GGUFs, extracted from the
// git bundle that node-llama-cpp ships (llama/gitRelease.bundle) and cached under models/generated/vocab/.
// Also owns repo-root discovery, since code here runs both from models/*.ts and from dist/models/*.js.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export type VocabName = "llama-spm" | "llama-bpe";
export const VOCABS: Record<VocabName, { file: string; description: string }> = {
  "llama-spm": { file: "ggml-vocab-llama-spm.gguf", description: "LLaMA/Llama-2 SentencePiece, 32000 tokens" },
  "llama-bpe": { file: "ggml-vocab-llama-bpe.gguf", description: "Llama-3 byte-level BPE, 128256 tokens" },
};

/** The nearest ancestor with a package.json: the repo root from models/ and from dist/models/ alike. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** models/generated/ — gitignored home of everything this folder produces. */
export function generatedDir(): string {
  return join(repoRoot(), "models", "generated");
}

/** The package's "exports" hides package.json, so resolve its entry point and walk up to the package root. */
export function llamaCppBundlePath(): string {
  const entry = createRequire(import.meta.url).resolve("node-llama-cpp");
  let dir = dirname(entry);
  while (!existsSync(join(dir, "llama", "gitRelease.bundle"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no llama/gitRelease.bundle above ${entry}`);
    dir = parent;
  }
  return join(dir, "llama", "gitRelease.bundle");
}

/**
 * Returns the path of the cached vocab-only GGUF, extracting it first if needed. Extraction is a
 * throwaway `git init` + `git fetch <bundle>` + `git show` (about a second); the result is renamed
 * into place so concurrent callers never observe a half-written file.
 */
export async function ensureVocabFile(name: VocabName, log?: (line: string) => void): Promise<string> {
  return ensureBundleFile(`models/${VOCABS[name].file}`, join(generatedDir(), "vocab", VOCABS[name].file), log);
}

/** A file of llama.cpp's source tree (a vocab, a chat template), cached at `target` on first use. */
export async function ensureBundleFile(pathInRepo: string, target: string, log?: (line: string) => void): Promise<string> {
  if (existsSync(target)) return target;
  const bundle = llamaCppBundlePath();
  log?.(`extracting ${pathInRepo} from ${bundle}`);
  await mkdir(dirname(target), { recursive: true });
  const repo = await mkdtemp(join(tmpdir(), "loom-vocab-"));
  try {
    const bytes = await extractFromBundle(repo, bundle, pathInRepo);
    const temp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temp, bytes);
    await rename(temp, target);
  } finally {
    await rm(repo, { recursive: true, force: true });
  }
  return target;
}

async function extractFromBundle(repo: string, bundle: string, pathInRepo: string): Promise<Buffer> {
  // Ignore the user's/system git config: hooks, templates or fsmonitor settings must not leak in.
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" };
  const git = (args: string[], encoding: "buffer" | "utf8") => execFileAsync("git", args, { env, encoding, maxBuffer: 256 * 1024 * 1024 });
  try {
    await git(["init", "-q", repo], "utf8");
    await git(["-C", repo, "fetch", "-q", bundle], "utf8");
    const { stdout } = await git(["-C", repo, "show", `FETCH_HEAD:${pathInRepo}`], "buffer");
    return Buffer.isBuffer(stdout) ? stdout : Buffer.from(stdout);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`could not extract ${pathInRepo} from ${bundle} (is git installed?): ${reason}`, { cause: err });
  }
}

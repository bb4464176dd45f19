// The host tier's directory for one engine worker: RAM-backed by default (/dev/shm, a tmpfs, when present),
// `loom-kv-<pid>-<worker>-<random>` inside the base so nothing of one process or model load is ever read by another;
// directories left by processes that died are removed at start, this one at shutdown. The byte budget is the flag's,
// at most half of what the filesystem has free.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface HostTierDir {
  readonly dir: string;
  readonly maxBytes: number;
  remove(): void;
}

/** /dev/shm when it exists (RAM-backed), else the OS temp directory. */
export function defaultHostBase(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

export function openHostTierDir(base: string, workerId: number, maxBytes: number): HostTierDir {
  removeStale(base);
  const dir = join(base, `loom-kv-${process.pid}-${workerId}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  return { dir, maxBytes: Math.min(maxBytes, Math.floor(free / 2)), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Directories of Loom processes that no longer run. */
function removeStale(base: string): void {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^loom-kv-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    rmSync(join(base, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

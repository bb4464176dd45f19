// `loom serve` as an operator starts it: a real process from dist/. Without UV_THREADPOOL_SIZE it relaunches itself
// with one libuv pool thread per engine worker (see support/threadpool-relaunch.ts); signals reach the server
// through the launcher, and the server drains and exits if the launcher dies without one.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import type { Client, ClientReadableStream } from "@grpc/grpc-js";
import { generationClient } from "../support/grpc-client.js";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ensureDefaultModel } from "../../models/make-synthetic-model.js";

const MAIN = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url));
const started: ChildProcess[] = [];

interface Launched {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly serverPid: number;
}

/** `loom serve` on the tiny model; stderr is collected into `stderr` (flags given later win). */
async function spawnServe(env: NodeJS.ProcessEnv, extra: readonly string[], stderr: string[] = []): Promise<ChildProcess> {
  const model = await ensureDefaultModel();
  const base = { ...process.env };
  delete base.UV_THREADPOOL_SIZE;
  delete base.LOOM_RELAUNCHED;
  const proc = spawn(
    process.execPath,
    [
      MAIN,
      "serve",
      "--model",
      `tiny=${model}`,
      "--port",
      "0",
      "--grpc-port",
      "off",
      "--threads",
      "1",
      "--threads-batch",
      "1",
      "--parallel",
      "2",
      "--log-level",
      "info",
      ...extra,
    ],
    {
      env: { ...base, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, as a shell gives a foreground job: Ctrl-C is a SIGINT to the group
    },
  );
  started.push(proc);
  proc.stderr?.on("data", (d: Buffer) => {
    stderr.push(d.toString());
    process.stderr.write(d);
  });
  return proc;
}

async function launch(env: NodeJS.ProcessEnv, extra: readonly string[] = [], stderr: string[] = []): Promise<Launched> {
  const proc = await spawnServe(env, extra, stderr);
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout as NonNullable<typeof proc.stdout> }).on("line", (line) => {
      const m = /"url":"([^"]+)".*"msg":"loom is serving"/.exec(line);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    proc.once("exit", (code) => reject(new Error(`exited early (${code})`)));
  });
  const status = (await (await fetch(`${url}/v1/status`)).json()) as { mainThread: { pid?: number } };
  return { proc, url, serverPid: status.mainThread.pid ?? -1 };
}

function exited(proc: ChildProcess): Promise<number | null> {
  return proc.exitCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once("exit", (code) => r(code)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
});

describe("loom serve process", () => {
  it("relaunches with one pool thread per engine thread and drains on SIGTERM to the launcher", async () => {
    const { proc, url, serverPid } = await launch({}, ["--engines", "2", "--engine-isolation", "thread"]);
    const status = (await (await fetch(`${url}/v1/status`)).json()) as {
      mainThread: { uvThreadpoolSize: number };
      models: { workers: { backend: { buildType: string } | null }[] }[];
    };
    expect(status.mainThread.uvThreadpoolSize).toBe(2);
    expect(serverPid).not.toBe(proc.pid);
    expect(status.models[0]?.workers.map((w) => typeof w.backend?.buildType)).toEqual(["string", "string"]);
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "hi", max_tokens: 3 }),
    });
    expect(res.status).toBe(200);
    proc.kill("SIGTERM");
    expect(await exited(proc)).toBe(0);
    expect(alive(serverPid)).toBe(false);
  });

  it("engine processes: the server keeps libuv's default pool; neither SIGTERM nor a killed server leaves one behind", async () => {
    const { proc, url, serverPid } = await launch({}, ["--engines", "2"]);
    const status = (await (await fetch(`${url}/v1/status`)).json()) as {
      mainThread: { uvThreadpoolSize: number };
      models: { workers: { host: { pid: number; isolation: string } }[] }[];
    };
    expect(status.mainThread.uvThreadpoolSize).toBe(4);
    const hosts = status.models[0]?.workers.map((w) => w.host) ?? [];
    expect(hosts.map((h) => h.isolation)).toEqual(["process", "process"]);
    const enginePid = hosts[0]?.pid as number;
    expect(hosts[1]?.pid).toBe(enginePid); // one process for the model's engines: its weights loaded once
    expect(enginePid).not.toBe(serverPid);
    proc.kill("SIGTERM");
    expect(await exited(proc)).toBe(0);
    expect(alive(enginePid)).toBe(false);

    const second = await launch({});
    const secondStatus = (await (await fetch(`${second.url}/v1/status`)).json()) as { models: { workers: { host: { pid: number } }[] }[] };
    const orphan = secondStatus.models[0]?.workers[0]?.host.pid as number;
    process.kill(second.serverPid, "SIGKILL");
    expect(await exited(second.proc)).toBe(137);
    const gone = Date.now();
    while (alive(orphan) && Date.now() - gone < 8_000) await new Promise((r) => setTimeout(r, 50));
    expect(alive(orphan)).toBe(false);
  }, 60_000);

  it("drains once on a terminal's Ctrl-C (SIGINT to the launcher's whole process group)", async () => {
    const { proc, serverPid } = await launch({});
    const lines: string[] = [];
    createInterface({ input: proc.stdout as NonNullable<typeof proc.stdout> }).on("line", (l) => lines.push(l));
    process.kill(-(proc.pid as number), "SIGINT");
    expect(await exited(proc)).toBe(0);
    expect(alive(serverPid)).toBe(false);
    expect(lines.filter((l) => l.includes('"msg":"stopped"'))).toHaveLength(1);
  });

  it("runs in place when UV_THREADPOOL_SIZE is set", async () => {
    const { proc, url, serverPid } = await launch({ UV_THREADPOOL_SIZE: "3" });
    expect(serverPid).toBe(proc.pid);
    const status = (await (await fetch(`${url}/v1/status`)).json()) as { mainThread: { uvThreadpoolSize: number } };
    expect(status.mainThread.uvThreadpoolSize).toBe(3);
    proc.kill("SIGTERM");
    expect(await exited(proc)).toBe(0);
  });

  it("stops the server when the launcher is killed without a signal to forward", async () => {
    const { proc, serverPid } = await launch({});
    expect(alive(serverPid)).toBe(true);
    proc.kill("SIGKILL");
    expect(await until(() => !alive(serverPid), 10_000)).toBe(true);
  });

  it("logs how the server died and exits 128 + the signal number when the server is killed", async () => {
    const stderr: string[] = [];
    const { proc, serverPid } = await launch({}, [], stderr);
    process.kill(serverPid, "SIGSEGV");
    expect(await exited(proc)).toBe(128 + 11);
    expect(stderr.join("")).toMatch(new RegExp(`server process \\(pid ${serverPid}\\) was killed by SIGSEGV`));
  });

  it("a second signal while draining stops at once (128 + its number), whichever signal each was", async () => {
    const { proc, url, serverPid } = await launch({}, ["--drain-timeout", "60"]);
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "go", max_tokens: 4000, ignore_eos: true, stream: true }),
    });
    const reader = res.body?.getReader();
    await reader?.read(); // streaming: the drain would wait up to 60 s for it
    process.kill(serverPid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    process.kill(serverPid, "SIGINT");
    expect(await exited(proc)).toBe(128 + 2);
    expect(Date.now() - t0).toBeLessThan(3_000);
    await reader?.cancel().catch(() => {});
  });
});

describe("start-up with a taken port", () => {
  it.each([
    ["--port", (port: number) => ["--port", String(port)]],
    ["--grpc-port", (port: number) => ["--grpc-port", String(port)]],
  ] as const)("exits non-zero naming %s before it reports ready", async (flag, args) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    const stderr: string[] = [];
    const proc = await spawnServe({ UV_THREADPOOL_SIZE: "1" }, args(port), stderr);
    let served = false;
    createInterface({ input: proc.stdout as NonNullable<typeof proc.stdout> }).on("line", (l) => (served ||= l.includes("loom is serving")));
    expect(await exited(proc)).toBe(2);
    expect(served).toBe(false);
    expect(stderr.join("")).toContain(`${flag} ${port}: cannot listen on 127.0.0.1:${port}`);
    blocker.close();
  });
});

describe("bounded shutdown", () => {
  it("frees both ports within the drain limit + 1 s of SIGTERM during long tokenizations and open gRPC streams", async () => {
    const { proc, url } = await launch({ UV_THREADPOOL_SIZE: "1" }, ["--grpc-port", "0", "--drain-timeout", "1"]);
    const grpcPort = ((await (await fetch(`${url}/v1/status`)).json()) as { grpcPort: number }).grpcPort;
    const httpPort = Number(new URL(url).port);
    // Prompts that take long to tokenize (emoji: llama.cpp's SentencePiece tokenizer is super-linear on them), queued.
    const heavy = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "😀".repeat(45_000) }], max_tokens: 1 });
    const posts = Array.from({ length: 4 }, () =>
      fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: heavy }).catch(() => null),
    );
    const grpc = generationClient<Client & { Generate: (req: Record<string, unknown>) => ClientReadableStream<unknown> }>(grpcPort);
    const call = grpc.Generate({ model: "tiny", text: "go on", stopping: { max_tokens: 4_000, ignore_eos: true } });
    call.on("error", () => {});
    await new Promise((resolve) => call.once("data", resolve));
    const t0 = Date.now();
    proc.kill("SIGTERM");
    const free = async (port: number): Promise<boolean> => {
      const s = createServer();
      const ok = await new Promise<boolean>((resolve) => {
        s.once("error", () => resolve(false));
        s.listen(port, "127.0.0.1", () => resolve(true));
      });
      if (ok) await new Promise((r) => s.close(r));
      return ok;
    };
    let freedMs = Number.POSITIVE_INFINITY;
    for (let waited = 0; waited < 10_000; waited = Date.now() - t0) {
      if ((await free(httpPort)) && (await free(grpcPort))) {
        freedMs = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(freedMs).toBeLessThan(1_000 + 1_000);
    expect(await exited(proc)).not.toBeNull();
    grpc.close();
    await Promise.all(posts);
  });
});

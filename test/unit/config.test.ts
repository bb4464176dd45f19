// Unit tests for parseServerConfig: defaults, every flag, LOOM_* env fallbacks, precedence, llama-server aliases,
// repeatable flags, error messages that name the flag, freezing, and that FLAG_DOCS/--help cover every field.
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  defaultThreads,
  defaultThreadsBatch,
  FLAG_DOCS,
  parseServerConfig,
  perSlotContext,
  renderHelp,
  type ServerConfig,
} from "../../src/config.js";

const parse = (argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServerConfig => parseServerConfig(argv, env);

function errorOf(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be rejected`);
}

describe("parseServerConfig", () => {
  it("has the documented defaults", () => {
    expect(parse([])).toEqual({
      models: [],
      host: "127.0.0.1",
      port: 8080,
      grpcPort: 50051,
      grpcTlsCert: null,
      grpcTlsKey: null,
      parallel: 16,
      threads: defaultThreads(availableParallelism()),
      threadsBatch: defaultThreadsBatch(availableParallelism()),
      ctxSize: 4096 * 16,
      batchSize: 2048,
      ubatchSize: 512,
      itlTargetMs: 250,
      flashAttn: "auto",
      gpu: "auto",
      gpuLayers: "max",
      apiKeys: [],
      engines: 1,
      samplingThreads: 1,
      engineIsolation: "process",
      maxQueue: 256,
      requestTimeoutMs: 600_000,
      drainTimeoutMs: 10_000,
      bodyLimitBytes: 4 * 1024 * 1024,
      headersTimeoutMs: 30_000,
      requestReadTimeoutMs: 60_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 8192,
      logLevel: "info",
      nativeBuild: "never",
      metricsCompat: "none",
      otlpEndpoint: null,
      logContent: false,
      prefixCache: true,
      kvHostBytes: 1024 ** 3,
      apiKeyFile: null,
      sslCertFile: null,
      sslKeyFile: null,
      corsOrigins: [],
      kvHostDir: null,
      kvDiskDir: null,
      kvDiskBytes: 8 * 1024 ** 3,
      draftModels: [],
      specTypes: [],
      specDraftNMax: 48,
      specDraftNMin: 1,
    });
  });
});

describe("parseServerConfig: flags", () => {
  it("parses every flag", () => {
    const cfg = parse([
      "--model",
      "tiny=/m/tiny.gguf",
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--grpc-port",
      "off",
      "--grpc-tls-cert",
      "/t/c.pem",
      "--grpc-tls-key",
      "/t/k.pem",
      "--parallel",
      "4",
      "--threads",
      "3",
      "--threads-batch",
      "5",
      "--ctx-size",
      "8192",
      "--batch-size",
      "64",
      "--ubatch-size",
      "32",
      "--itl-target",
      "0",
      "-fa",
      "off",
      "--gpu",
      "cuda",
      "--n-gpu-layers",
      "20",
      "--api-key",
      "k1",
      "--sampling-threads",
      "2",
      "--engines",
      "2",
      "--engine-isolation",
      "thread",
      "--max-queue",
      "0",
      "--timeout",
      "1.5",
      "--drain-timeout",
      "2.5",
      "--body-limit",
      "1024",
      "--headers-timeout",
      "5",
      "--request-read-timeout",
      "20",
      "--keep-alive-timeout",
      "7.5",
      "--max-connections",
      "100",
      "--log-level",
      "debug",
      "--native-build",
      "never",
      "--metrics-compat",
      "vllm",
      "--otlp-endpoint",
      "http://127.0.0.1:4318/v1/traces",
      "--log-content",
      "true",
      "--no-prefix-cache",
      "--kv-host-bytes",
      "5000",
      "--kv-host-dir",
      "/tmp/kv",
      "--kv-disk-dir",
      "/var/lib/loom/kv",
      "--kv-disk-bytes",
      "9000",
      "--api-key-file",
      "/etc/loom/keys.json",
      "--ssl-cert-file",
      "/etc/loom/cert.pem",
      "--ssl-key-file",
      "/etc/loom/key.pem",
      "--cors-origin",
      "https://app.example.com",
      "--spec-draft-model",
      "tiny=/m/draft.gguf",
      "--spec-type",
      "ngram,draft",
      "--spec-draft-n-max",
      "12",
      "--spec-draft-n-min",
      "2",
    ]);
    expect(cfg).toEqual({
      models: [{ name: "tiny", path: "/m/tiny.gguf" }],
      host: "0.0.0.0",
      port: 0,
      grpcPort: null,
      grpcTlsCert: "/t/c.pem",
      grpcTlsKey: "/t/k.pem",
      parallel: 4,
      threads: 3,
      threadsBatch: 5,
      ctxSize: 8192,
      batchSize: 64,
      ubatchSize: 32,
      itlTargetMs: 0,
      flashAttn: "off",
      gpu: "cuda",
      gpuLayers: 20,
      apiKeys: ["k1"],
      engines: 2,
      samplingThreads: 2,
      engineIsolation: "thread",
      maxQueue: 0,
      requestTimeoutMs: 1500,
      drainTimeoutMs: 2500,
      bodyLimitBytes: 1024,
      headersTimeoutMs: 5_000,
      requestReadTimeoutMs: 20_000,
      keepAliveTimeoutMs: 7_500,
      maxConnections: 100,
      logLevel: "debug",
      nativeBuild: "never",
      metricsCompat: "vllm",
      otlpEndpoint: "http://127.0.0.1:4318/v1/traces",
      logContent: true,
      prefixCache: false,
      kvHostBytes: 5000,
      apiKeyFile: "/etc/loom/keys.json",
      sslCertFile: "/etc/loom/cert.pem",
      sslKeyFile: "/etc/loom/key.pem",
      corsOrigins: ["https://app.example.com"],
      kvHostDir: "/tmp/kv",
      kvDiskDir: "/var/lib/loom/kv",
      kvDiskBytes: 9000,
      draftModels: [{ model: "tiny", path: "/m/draft.gguf" }],
      specTypes: ["ngram", "draft"],
      specDraftNMax: 12,
      specDraftNMin: 2,
    });
    expect(perSlotContext(cfg)).toBe(2048);
  });

  it("accepts --flag=value and the llama-server short aliases", () => {
    const cfg = parse(["-c", "1000", "-np", "3", "-t", "2", "-tb", "4", "-b", "9", "-ngl", "7", "-m", "/x/a.gguf", "--port=81"]);
    expect(cfg).toMatchObject({ ctxSize: 1000, parallel: 3, threads: 2, threadsBatch: 4, batchSize: 9, gpuLayers: 7, port: 81 });
    expect(cfg.models).toEqual([{ name: "a", path: "/x/a.gguf" }]);
    expect(perSlotContext(cfg)).toBe(333);
    expect(parse(["-np=2", "-ngl=max"])).toMatchObject({ parallel: 2, gpuLayers: "max" });
  });

  it("speculative decoding: -md and --model-draft, draft by default with a draft model, refusals naming the flag", () => {
    expect(parse(["-md", "/m/d.gguf"])).toMatchObject({ draftModels: [{ model: null, path: "/m/d.gguf" }], specTypes: ["draft"] });
    expect(parse(["--model-draft", "/m/d.gguf", "--spec-type", "none"])).toMatchObject({ specTypes: [] });
    expect(parse(["--spec-type", "ngram-simple"]).specTypes).toEqual(["ngram"]);
    expect(() => parse(["--spec-type", "draft"])).toThrow(/draft.*needs a draft model/);
    expect(() => parse(["--spec-type", "eagle3"])).toThrow(/--spec-type: expected none, draft, ngram/);
    expect(() => parse(["--spec-type", "none,ngram"])).toThrow(/`none` alone/);
    expect(() => parse(["--spec-draft-n-max", "2", "--spec-draft-n-min", "3"])).toThrow(/--spec-draft-n-min: expected at most --spec-draft-n-max \(2\)/);
    expect(() => parse(["-m", "a=/m/a.gguf", "-md", "b=/m/d.gguf"])).toThrow(/no served model is named "b"/);
    expect(() => parse(["--spec-type", "toString"])).toThrow(/--spec-type: expected none, draft, ngram/);
    // Model names may hold "/": a draft named for one is still named; a path holding "=" is a path.
    expect(parse(["-m", "Qwen/Qwen2.5-7B=/m/q.gguf", "-md", "Qwen/Qwen2.5-7B = /m/d.gguf"]).draftModels).toEqual([
      { model: "Qwen/Qwen2.5-7B", path: "/m/d.gguf" },
    ]);
    expect(parse(["-md", "/m/a=b/d.gguf"]).draftModels).toEqual([{ model: null, path: "/m/a=b/d.gguf" }]);
  });

  it("resolves ctx-size 0 to 4096 cells per slot", () => {
    expect(parse(["--parallel", "3", "--ctx-size", "0"]).ctxSize).toBe(3 * 4096);
    expect(perSlotContext(parse(["-np", "2"]))).toBe(4096);
  });
});

describe("parseServerConfig: env", () => {
  it("reads every flag from its LOOM_* variable", () => {
    const cfg = parse([], {
      LOOM_MODEL: "a=/m/a.gguf, /m/b.GGUF",
      LOOM_HOST: "::",
      LOOM_PORT: "9000",
      LOOM_GRPC_PORT: "9001",
      LOOM_GRPC_TLS_CERT: "c.pem",
      LOOM_GRPC_TLS_KEY: "k.pem",
      LOOM_PARALLEL: "2",
      LOOM_THREADS: "1",
      LOOM_THREADS_BATCH: "2",
      LOOM_CTX_SIZE: "512",
      LOOM_BATCH_SIZE: "2",
      LOOM_UBATCH_SIZE: "8",
      LOOM_ITL_TARGET: "400",
      LOOM_FLASH_ATTN: "on",
      LOOM_GPU: "vulkan",
      LOOM_N_GPU_LAYERS: "0",
      LOOM_API_KEY: "k1,k2,",
      LOOM_ENGINES: "3",
      LOOM_SAMPLING_THREADS: "3",
      LOOM_ENGINE_ISOLATION: "thread",
      LOOM_MAX_QUEUE: "5",
      LOOM_TIMEOUT: "30",
      LOOM_DRAIN_TIMEOUT: "0.5",
      LOOM_BODY_LIMIT: "100",
      LOOM_HEADERS_TIMEOUT: "4",
      LOOM_REQUEST_READ_TIMEOUT: "8",
      LOOM_KEEP_ALIVE_TIMEOUT: "9",
      LOOM_MAX_CONNECTIONS: "50",
      LOOM_LOG_LEVEL: "silent",
      LOOM_NATIVE_BUILD: "never",
      LOOM_METRICS_COMPAT: "vllm",
      LOOM_OTLP_ENDPOINT: "http://collector:4318/v1/traces",
      LOOM_LOG_CONTENT: "yes",
      LOOM_NO_PREFIX_CACHE: "true",
      LOOM_KV_HOST_BYTES: "5000",
      LOOM_KV_HOST_DIR: "/tmp/kv",
      LOOM_KV_DISK_DIR: "/var/lib/loom/kv",
      LOOM_KV_DISK_BYTES: "9000",
      LOOM_API_KEY_FILE: "/etc/loom/keys.json",
      LOOM_SSL_CERT_FILE: "/etc/loom/cert.pem",
      LOOM_SSL_KEY_FILE: "/etc/loom/key.pem",
      LOOM_CORS_ORIGIN: "https://app.example.com",
      LOOM_SPEC_DRAFT_MODEL: "/m/d.gguf",
      LOOM_SPEC_TYPE: "draft-simple",
      LOOM_SPEC_DRAFT_N_MAX: "4",
      LOOM_SPEC_DRAFT_N_MIN: "0",
    });
    expect(cfg).toEqual({
      models: [
        { name: "a", path: "/m/a.gguf" },
        { name: "b", path: "/m/b.GGUF" },
      ],
      host: "::",
      port: 9000,
      grpcPort: 9001,
      grpcTlsCert: "c.pem",
      grpcTlsKey: "k.pem",
      parallel: 2,
      threads: 1,
      threadsBatch: 2,
      ctxSize: 512,
      batchSize: 2,
      ubatchSize: 2, // clamped to the batch, as llama.cpp does
      itlTargetMs: 400,
      flashAttn: "on",
      gpu: "vulkan",
      gpuLayers: 0,
      apiKeys: ["k1", "k2"],
      engines: 3,
      samplingThreads: 3,
      engineIsolation: "thread",
      maxQueue: 5,
      requestTimeoutMs: 30_000,
      drainTimeoutMs: 500,
      bodyLimitBytes: 100,
      headersTimeoutMs: 4_000,
      requestReadTimeoutMs: 8_000,
      keepAliveTimeoutMs: 9_000,
      maxConnections: 50,
      logLevel: "silent",
      nativeBuild: "never",
      metricsCompat: "vllm",
      otlpEndpoint: "http://collector:4318/v1/traces",
      logContent: true,
      prefixCache: false,
      kvHostBytes: 5000,
      apiKeyFile: "/etc/loom/keys.json",
      sslCertFile: "/etc/loom/cert.pem",
      sslKeyFile: "/etc/loom/key.pem",
      corsOrigins: ["https://app.example.com"],
      kvHostDir: "/tmp/kv",
      kvDiskDir: "/var/lib/loom/kv",
      kvDiskBytes: 9000,
      draftModels: [{ model: null, path: "/m/d.gguf" }],
      specTypes: ["draft"],
      specDraftNMax: 4,
      specDraftNMin: 1,
    });
  });

  it("lets flags beat env, and treats an empty env var as unset", () => {
    const env = { LOOM_PORT: "9000", LOOM_API_KEY: "env-key", LOOM_MODEL: "/m/env.gguf", LOOM_HOST: "" };
    const cfg = parse(["--port", "1234", "--api-key", "flag-key", "--model", "/m/flag.gguf"], env);
    expect(cfg).toMatchObject({ port: 1234, apiKeys: ["flag-key"], host: "127.0.0.1" });
    expect(cfg.models).toEqual([{ name: "flag", path: "/m/flag.gguf" }]);
    expect(parse(["-c", "100"], { LOOM_CTX_SIZE: "200" }).ctxSize).toBe(100);
  });
});

describe("parseServerConfig: repeats and shapes", () => {
  it("takes --model repeatedly, with and without names", () => {
    const cfg = parse(["--model", "/models/qwen2-0.5b.gguf", "--model", "chat=/models/other.gguf", "-m", "rel/x.bin"]);
    expect(cfg.models).toEqual([
      { name: "qwen2-0.5b", path: "/models/qwen2-0.5b.gguf" },
      { name: "chat", path: "/models/other.gguf" },
      { name: "x.bin", path: "rel/x.bin" },
    ]);
    expect(parse(["--api-key", "a", "--api-key", "b"]).apiKeys).toEqual(["a", "b"]);
  });

  it("lets the last value of a single-valued flag win", () => {
    expect(parse(["--port", "1", "--port", "2"]).port).toBe(2);
  });

  it("accepts 'all' as a synonym of max GPU layers and is case-insensitive for enums", () => {
    expect(parse(["-ngl", "all", "--gpu", "CPU", "--log-level", "WARN"])).toMatchObject({ gpuLayers: "max", gpu: "cpu", logLevel: "warn" });
  });

  it("returns a frozen config with frozen arrays", () => {
    const cfg = parse(["--model", "/m/a.gguf", "--api-key", "k"]);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.models)).toBe(true);
    expect(Object.isFrozen(cfg.models[0])).toBe(true);
    expect(Object.isFrozen(cfg.apiKeys)).toBe(true);
  });
});

describe("parseServerConfig errors name the flag", () => {
  const cases: readonly [readonly string[], NodeJS.ProcessEnv, RegExp][] = [
    [["--port", "80x"], {}, /--port.*integer.*"80x"/],
    [["--port", "70000"], {}, /--port.*0 to 65535/],
    [["--port=-1"], {}, /--port/],
    [["--parallel", "0"], {}, /--parallel.*≥ 1/],
    [["-np", "2.5"], {}, /--parallel/],
    [["--batch-size", "8", "--parallel", "16"], {}, /--batch-size \(8\) must be ≥ --parallel \(16\)/],
    [["--ctx-size", "4", "-np", "8"], {}, /--ctx-size/],
    [["--gpu", "metal"], {}, /--gpu.*auto, cuda, vulkan, cpu.*"metal"/],
    [["-ngl", "lots"], {}, /--n-gpu-layers/],
    [["--timeout", "0"], {}, /--timeout.*seconds/],
    [["--timeout", "-3"], {}, /--timeout/],
    [["--log-level", "verbose"], {}, /--log-level/],
    [["--native-build", "always"], {}, /--native-build/],
    [["--body-limit", "0"], {}, /--body-limit/],
    [["--headers-timeout", "90"], {}, /--headers-timeout .* must not exceed --request-read-timeout/],
    [["--max-connections", "0"], {}, /--max-connections/],
    [["--engines", "0"], {}, /--engines/],
    [["--sampling-threads", "17"], {}, /--sampling-threads/],
    [["--max-queue", "-1"], {}, /--max-queue/],
    [["--itl-target", "x"], {}, /--itl-target/],
    [["--ubatch-size", "0"], {}, /--ubatch-size/],
    [["--flash-attn", "maybe"], {}, /--flash-attn/],
    [["--prefill-chunk", "64"], {}, /--prefill-chunk/],
    [["--threads", "0"], {}, /--threads/],
    [["--api-key", ""], {}, /--api-key/],
    [["--model", "=/m/a.gguf"], {}, /--model/],
    [["--model", "/a/x.gguf", "--model", "/b/x.gguf"], {}, /--model.*\(x\)/],
    [["--host", ""], {}, /--host/],
    [["--bogus"], {}, /--bogus/],
    [["--port"], {}, /--port/],
    [["serve"], {}, /serve/],
    [[], { LOOM_PORT: "abc" }, /LOOM_PORT \(--port\)/],
    [[], { LOOM_GPU: "tpu" }, /LOOM_GPU \(--gpu\)/],
  ];
  it.each(cases)("%j %j", (argv, env, pattern) => {
    expect(errorOf(argv, env)).toMatch(pattern);
  });
});

describe("FLAG_DOCS and help", () => {
  it("documents every ServerConfig field exactly once", () => {
    const fields = FLAG_DOCS.map((d) => d.field).sort();
    expect(fields).toEqual(Object.keys(parse([])).sort());
    expect(new Set(FLAG_DOCS.map((d) => d.flag)).size).toBe(FLAG_DOCS.length);
  });

  it("derives each env name from its flag", () => {
    for (const d of FLAG_DOCS) expect(d.env).toBe(`LOOM_${d.flag.slice(2).replace(/-/g, "_").toUpperCase()}`);
    expect(FLAG_DOCS.find((d) => d.flag === "--ctx-size")).toMatchObject({ alias: "-c", env: "LOOM_CTX_SIZE" });
  });

  it("renders every flag, alias and env var in --help", () => {
    const help = renderHelp();
    for (const d of FLAG_DOCS) {
      expect(help).toContain(d.flag);
      expect(help).toContain(d.env);
      if (d.alias !== undefined) expect(help).toContain(`${d.alias},`);
    }
  });

  it("computes the default thread counts (half the CPUs for single-token steps, all for batches)", () => {
    expect([1, 2, 3, 4, 16, 0].map(defaultThreads)).toEqual([1, 1, 1, 2, 8, 1]);
    expect([1, 2, 3, 4, 16, 0].map(defaultThreadsBatch)).toEqual([1, 2, 3, 4, 16, 1]);
  });
});

describe("README", () => {
  it("documents every flag with its env var", async () => {
    const { readFileSync } = await import("node:fs");
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const d of FLAG_DOCS) expect(readme, d.flag).toContain(`| \`${d.flag}\` |`);
    for (const d of FLAG_DOCS) expect(readme, d.env).toContain(`\`${d.env}\``);
  });
});

describe("switches", () => {
  it("takes --log-content bare, with a value, or from the env", () => {
    expect(parseServerConfig([], {}).logContent).toBe(false);
    expect(parseServerConfig(["--log-content"], {}).logContent).toBe(true);
    expect(parseServerConfig(["--log-content", "--port", "1"], {}).logContent).toBe(true);
    expect(parseServerConfig(["--log-content=false"], {}).logContent).toBe(false);
    expect(parseServerConfig([], { LOOM_LOG_CONTENT: "1" }).logContent).toBe(true);
    expect(() => parseServerConfig(["--log-content", "maybe"], {})).toThrow(/--log-content/);
  });
});

describe("gRPC TLS flags", () => {
  it("takes both PEM paths from flags or env", () => {
    expect(parse(["--grpc-tls-cert", "c.pem", "--grpc-tls-key", "k.pem"])).toMatchObject({ grpcTlsCert: "c.pem", grpcTlsKey: "k.pem" });
    expect(parse([], { LOOM_GRPC_TLS_CERT: "c.pem", LOOM_GRPC_TLS_KEY: "k.pem" })).toMatchObject({ grpcTlsCert: "c.pem", grpcTlsKey: "k.pem" });
  });

  it("refuses one without the other, naming where it came from", () => {
    expect(errorOf(["--grpc-tls-cert", "c.pem"])).toMatch(/--grpc-tls-cert: --grpc-tls-cert and --grpc-tls-key go together/);
    expect(errorOf([], { LOOM_GRPC_TLS_KEY: "k.pem" })).toMatch(/LOOM_GRPC_TLS_KEY \(--grpc-tls-key\): .*give both PEM files or neither/);
    expect(errorOf(["--grpc-tls-cert", "", "--grpc-tls-key", "k.pem"])).toMatch(/--grpc-tls-cert: expected a PEM file path/);
  });
});

describe("parseServerConfig: HTTPS and CORS", () => {
  it("takes both PEM files or neither", () => {
    expect(() => parseServerConfig(["--ssl-cert-file", "/c.pem"], {})).toThrow(/--ssl-cert-file and --ssl-key-file go together/);
    expect(() => parseServerConfig(["--ssl-key-file", "/k.pem"], {})).toThrow(/go together/);
  });

  it("takes origins (scheme://host[:port]) or *, and refuses anything with a path", () => {
    expect(parseServerConfig(["--cors-origin", "*", "--cors-origin", "http://localhost:3000"], {}).corsOrigins).toEqual(["*", "http://localhost:3000"]);
    expect(() => parseServerConfig(["--cors-origin", "https://app.example.com/x"], {})).toThrow(/--cors-origin/);
    expect(() => parseServerConfig(["--cors-origin", "app.example.com"], {})).toThrow(/an origin/);
  });
});

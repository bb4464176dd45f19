#!/usr/bin/env node
// CLI entry: `loom serve [flags]` and `loom make-model [flags]`. Parses flags into the frozen config, makes the
// default synthetic model when no --model is given, starts the server and owns signal handling and process exit.

import { ConfigError, parseServerConfig, renderHelp, type ServerConfig } from "./config.js";
import { startServer, type RunningServer } from "./server.js";
import { createLogger, logFn } from "./support/logger.js";
import { checkedNativeBuild } from "./support/native-build-check.js";
import { exitIfStillAlive, guardUnhandledRejections } from "./support/process-guards.js";
import { exitStatusOf } from "./exit-status.js";
import { needsRelaunch, onParentGone, poolSizeFor, relaunchWithPool } from "./support/threadpool-relaunch.js";
import { ensureDefaultModel } from "../models/make-synthetic-model.js";
import { runMakeModelCli } from "../models/make-model-cli.js";

/** After "stopped", how long anything left (an engine thread in native code) may hold the process. */
const STOPPED_EXIT_GRACE_MS = 1_000;

const USAGE = "usage: loom serve [flags] | loom make-model [flags] | loom --help";

async function serve(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${renderHelp()}\n`);
    return 0;
  }
  let cfg: ServerConfig;
  try {
    cfg = parseServerConfig(argv, process.env);
  } catch (err) {
    return configFailure(err);
  }
  if (needsRelaunch(process.env)) return relaunchWithPool(poolSizeFor(cfg.engineIsolation, Math.max(1, cfg.models.length) * cfg.engines * cfg.samplingThreads));
  const logger = createLogger(cfg.logLevel);
  guardUnhandledRejections(logger);
  if (cfg.models.length === 0) {
    const path = await ensureDefaultModel((line) => logger.info(line));
    cfg = { ...cfg, models: [{ name: "loom-tiny", path }] };
    logger.info({ model: "loom-tiny", path }, "no --model given: serving the synthetic tiny model (random weights, gibberish text; for trying Loom out)");
  }
  // A local -march=native build is smoke-tested once per CPU in a child process; one that crashes is not used.
  cfg = { ...cfg, nativeBuild: await checkedNativeBuild(cfg.nativeBuild, logFn(logger)) };
  let server: RunningServer;
  try {
    server = await startServer(cfg, logger);
  } catch (err) {
    return configFailure(err); // files named by flags (TLS) and the ports are only checked here
  }
  // Signal handlers first, so a SIGTERM sent on seeing "loom is serving" drains instead of killing.
  const stopped = new Promise<void>((resolve) => {
    let draining = false;
    const stop = (signal: string): void => {
      // A second signal (either kind) while draining means "stop now": no more waiting on in-flight requests.
      if (draining && signal !== "parent exited") {
        logger.warn({ signal }, "second signal while draining: stopping now");
        process.exit(exitStatusOf(null, signal as NodeJS.Signals));
      }
      if (draining) return;
      draining = true;
      logger.info({ signal, drainTimeoutS: cfg.drainTimeoutMs / 1000 }, "shutting down: draining in-flight requests");
      void server.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    onParentGone(() => stop("parent exited"));
  });
  const grpc = server.grpcPort === null ? null : { port: server.grpcPort, tls: cfg.grpcTlsCert !== null };
  logger.info({ url: server.url, grpc, models: cfg.models.map((m) => m.name), parallel: cfg.parallel, threads: cfg.threads }, "loom is serving");
  await stopped;
  logger.info("stopped");
  exitIfStillAlive(0, STOPPED_EXIT_GRACE_MS);
  return 0;
}

/** A ConfigError is the operator's to fix: one line and exit code 2. Anything else propagates. */
function configFailure(err: unknown): number {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`loom: ${err.message}\n`);
  return 2;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "serve" || command === undefined) return serve(rest);
  if (command === "make-model") return runMakeModelCli([...rest]);
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n\n${renderHelp()}\n`);
    return 0;
  }
  process.stderr.write(`loom: unknown command \`${command}\`\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`loom: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

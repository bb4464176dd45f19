import { defineConfig } from "vitest/config";

// Integration tests start real servers with real llama.cpp workers; on a 2-core machine they must not run in parallel
// with each other, or every timing-dependent assertion (interleaving, slot release) turns into a CPU race.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});

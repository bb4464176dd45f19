// Which llama.cpp binary a Loom server loaded, as the anchor bench records it: from the llama-addon.node in the
// server process's memory map (localBuilds/ = the native/ build, @node-llama-cpp/ = prebuilt), or from a buildType
// the server reports in GET /v1/status.
import { describe, expect, it } from "vitest";
import { binaryFromMaps, buildTypeFromStatus } from "../../../bench/anchor/loom-binary.js";

describe("loom binary", () => {
  const line = (path: string): string => `7f0000000000-7f0000001000 r-xp 00000000 08:01 123 ${path}`;

  it("reads the build type from the addon the process mapped", () => {
    const local = [
      line("/w/node_modules/node-llama-cpp/llama/localBuilds/linux-x64/Release/llama-addon.node"),
      line("/w/node_modules/node-llama-cpp/llama/localBuilds/linux-x64/Release/libggml-cpu.so"),
      line("/w/node_modules/node-llama-cpp/llama/localBuilds/linux-x64/Release/libggml-base.so"),
      line("[heap]"),
    ].join("\n");
    expect(binaryFromMaps(local, "auto")).toEqual({
      nativeBuild: "auto",
      buildType: "localBuild",
      source: "proc-maps",
      addon: "node-llama-cpp/llama/localBuilds/linux-x64/Release/llama-addon.node",
      backends: ["libggml-cpu.so"],
    });
    const pre = [
      line("/w/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node"),
      line("/w/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-zen4.so"),
    ].join("\n");
    expect(binaryFromMaps(pre, "never")).toMatchObject({ buildType: "prebuilt", backends: ["libggml-cpu-zen4.so"] });
    expect(binaryFromMaps("", "auto")).toMatchObject({ buildType: "unknown", source: "none", addon: null });
  });

  it("prefers a buildType the server reports in /v1/status", () => {
    expect(buildTypeFromStatus({ models: [{ id: "bench", backend: { buildType: "localBuild" } }] })).toBe("localBuild");
    expect(buildTypeFromStatus({ accepting: true, models: [] })).toBeNull();
  });
});

// Architecture rules over src/: which layer may import which. Parses every .ts file under src/ with the TypeScript
// parser (multi-line, type-only, re-export and dynamic imports all count) and resolves relative specifiers to
// repo-relative paths. Rules: folders say where code runs (src/engine on the main thread, src/engine-worker and
// src/runtime on an engine worker thread beside the model) and only the message protocol crosses; transports never
// reach the worker side or the native binding; the engine never touches wire protocols or sockets; only
// llama-backend.ts imports node-llama-cpp; only src/metrics/ imports prom-client; no file under src/ is longer than
// 400 lines; no import cycle between files or between folders.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Import {
  /** Repo-relative importing file, e.g. "src/engine/engine.ts". */
  readonly file: string;
  /** Package name ("node:http", "@grpc/grpc-js") or repo-relative target ("src/runtime/model-backend.ts"). */
  readonly target: string;
  readonly typeOnly: boolean;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(rel);
    return e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

function resolveTarget(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  return posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, ".ts");
}

function importsOf(file: string): Import[] {
  const src = ts.createSourceFile(file, readFileSync(join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean): void => {
    if (spec !== undefined && ts.isStringLiteralLike(spec)) out.push({ file, target: resolveTarget(file, spec.text), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypeNames =
        clause !== undefined &&
        clause.name === undefined &&
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((el) => el.isTypeOnly);
      add(node.moduleSpecifier, clause?.isTypeOnly === true || allTypeNames);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

const FILES = tsFiles("src");
const IMPORTS = FILES.flatMap(importsOf);

const under =
  (dir: string) =>
  (path: string): boolean =>
    path.startsWith(`${dir}/`);
const pkg =
  (name: string) =>
  (target: string): boolean =>
    target === name || target.startsWith(`${name}/`);
const show = (list: readonly Import[]): string[] => list.map((i) => `${i.file} -> ${i.target}${i.typeOnly ? " (type)" : ""}`);

/** Imports from files matching `from` to targets matching any of `to`. */
function violations(from: (f: string) => boolean, to: readonly ((t: string) => boolean)[], typeOnlyToo = true): string[] {
  return show(IMPORTS.filter((i) => from(i.file) && to.some((t) => t(i.target)) && (typeOnlyToo || !i.typeOnly)));
}

describe("architecture: the scanner itself", () => {
  it("finds the source tree and its imports", () => {
    expect(FILES).toContain("src/engine-worker/scheduler.ts");
    expect(FILES).toContain("src/runtime/llama-backend.ts");
    expect(FILES.some((f) => f.startsWith("src/transport/"))).toBe(true);
    expect(IMPORTS.length).toBeGreaterThan(FILES.length);
  });

  it("resolves relative, multi-line and type-only imports", () => {
    const sched = IMPORTS.filter((i) => i.file === "src/engine-worker/scheduler.ts");
    expect(sched).toContainEqual({ file: "src/engine-worker/scheduler.ts", target: "src/engine-worker/slot-table.ts", typeOnly: false });
    expect(sched).toContainEqual({ file: "src/engine-worker/scheduler.ts", target: "src/runtime/step-plan.ts", typeOnly: true });
    // llama-backend's node-llama-cpp import spans several lines.
    expect(IMPORTS.some((i) => i.file === "src/runtime/llama-backend.ts" && i.target === "node-llama-cpp")).toBe(true);
  });

  it("every relative import resolves to a file that exists under src/", () => {
    const dangling = IMPORTS.filter((i) => i.target.startsWith("src/") && !FILES.includes(i.target));
    expect(show(dangling)).toEqual([]);
  });
});

describe("architecture: layering", () => {
  const transport = under("src/transport");
  const engine = under("src/engine");
  /** Code that runs on an engine worker thread, beside the model. */
  const besideModel = (f: string): boolean => under("src/engine-worker")(f) || under("src/runtime")(f);
  const protocol = (t: string): boolean => t === "src/engine-worker/worker-messages.ts";

  it("src/transport imports nothing from the engine worker's side (src/engine-worker, src/runtime), not even types", () => {
    expect(violations(transport, [besideModel])).toEqual([]);
  });

  it("src/transport never imports node-llama-cpp", () => {
    expect(violations(transport, [pkg("node-llama-cpp")])).toEqual([]);
  });

  it("the main-thread engine (src/engine) reaches the worker side only through the message protocol and types", () => {
    expect(violations(engine, [(t) => besideModel(t) && !protocol(t)], false)).toEqual([]);
  });

  it("the worker side imports nothing that runs on the main thread", () => {
    expect(violations(besideModel, [engine, transport, under("src/metrics"), under("src/tracing"), under("src/support")])).toEqual([]);
  });

  it("src/engine and the worker side import no sockets, wire protocols, transports or native binding", () => {
    const banned = [pkg("node:http"), pkg("http"), pkg("ws"), pkg("@grpc"), transport, under("src/protocol")];
    expect(violations((f) => engine(f) || under("src/engine-worker")(f), [...banned, pkg("node-llama-cpp")])).toEqual([]);
    expect(violations(under("src/runtime"), banned)).toEqual([]);
  });

  it("only src/runtime/llama-backend.ts imports node-llama-cpp", () => {
    expect(violations((f) => f !== "src/runtime/llama-backend.ts", [pkg("node-llama-cpp")])).toEqual([]);
  });

  it("only files under src/metrics/ import prom-client", () => {
    expect(violations((f) => !under("src/metrics")(f), [pkg("prom-client")])).toEqual([]);
  });
});

describe("architecture: size", () => {
  it("every file under src/ is at most 400 lines", () => {
    const lineCount = (text: string): number => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const long = FILES.map((f) => ({ f, lines: lineCount(readFileSync(join(ROOT, f), "utf8")) }))
      .filter((x) => x.lines > 400)
      .map((x) => `${x.f}: ${x.lines} lines`);
    expect(long).toEqual([]);
  });
});

/** Every cycle among the nodes (strongly connected components of more than one node, or a node importing itself). */
function cycles(edges: readonly (readonly [string, string])[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const [a, b] of edges) {
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    graph.get(a)?.add(b);
  }
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
      onStack.delete(w);
      scc.push(w);
    }
    if (scc.length > 1 || graph.get(v)?.has(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe("architecture: no import cycles", () => {
  const internal = IMPORTS.filter((i) => i.target.startsWith("src/"));

  it("between files (type-only imports count: they are a dependency too)", () => {
    expect(cycles(internal.map((i) => [i.file, i.target] as const))).toEqual([]);
  });

  it("between folders of src/ (a file at the top level is its own node)", () => {
    const node = (f: string): string => (f.split("/").length > 2 ? f.split("/").slice(0, 2).join("/") : f);
    const edges = internal.map((i) => [node(i.file), node(i.target)] as const).filter(([a, b]) => a !== b);
    expect(cycles(edges)).toEqual([]);
  });

  it("finds a cycle when there is one (the check itself)", () => {
    expect(
      cycles([
        ["a", "b"],
        ["b", "c"],
        ["c", "a"],
        ["c", "d"],
      ]),
    ).toEqual([["a", "b", "c"]]);
  });
});

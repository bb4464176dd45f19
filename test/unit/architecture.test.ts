// Architecture rules over src/: which layer may import which. Parses every .ts file under src/ with the TypeScript
// parser (multi-line, type-only, re-export and dynamic imports all count) and resolves relative specifiers to
// repo-relative paths. Rules: transport never reaches the runtime, the workers or the native binding; the engine
// never touches wire protocols, sockets or the native binding; only llama-backend.ts imports node-llama-cpp; only
// src/metrics/ imports prom-client; no file under src/ is longer than 400 lines.
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
    expect(FILES).toContain("src/engine/scheduler.ts");
    expect(FILES).toContain("src/runtime/llama-backend.ts");
    expect(FILES.some((f) => f.startsWith("src/transport/"))).toBe(true);
    expect(IMPORTS.length).toBeGreaterThan(FILES.length);
  });

  it("resolves relative, multi-line and type-only imports", () => {
    const sched = IMPORTS.filter((i) => i.file === "src/engine/scheduler.ts");
    expect(sched).toContainEqual({ file: "src/engine/scheduler.ts", target: "src/engine/slot-table.ts", typeOnly: false });
    expect(sched).toContainEqual({ file: "src/engine/scheduler.ts", target: "src/engine/step-plan.ts", typeOnly: true });
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

  it("src/transport imports nothing from src/runtime", () => {
    expect(violations(transport, [under("src/runtime")])).toEqual([]);
  });

  it("src/transport has no runtime (value) imports from src/workers", () => {
    expect(violations(transport, [under("src/workers")], false)).toEqual([]);
  });

  // Not even types: worker-messages.ts pulls in src/runtime types, which transports must not depend on.
  it("src/transport imports nothing (not even types) from src/workers", () => {
    expect(violations(transport, [under("src/workers")])).toEqual([]);
  });

  it("src/transport never imports node-llama-cpp", () => {
    expect(violations(transport, [pkg("node-llama-cpp")])).toEqual([]);
  });

  it("src/engine imports no sockets, wire protocols, transports or native binding", () => {
    const banned = [pkg("node:http"), pkg("http"), pkg("ws"), pkg("@grpc"), under("src/transport"), under("src/protocol"), pkg("node-llama-cpp")];
    expect(violations(engine, banned)).toEqual([]);
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

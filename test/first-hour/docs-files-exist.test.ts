/**
 * Every file a document names exists in the repository: markdown links, and file names and
 * paths written in prose (`examples/quickstart/main.ts`, `generated/greeter.ts`,
 * `bench/results/`), in README.md, docs/*.md and examples/<name>/README.md. Code blocks are
 * left out (they show a user's own files); everything else is checked.
 *
 * A name is found when it exists relative to the page or to the repository root, or when
 * a tracked file ends with it (`client.ts` in examples/lock-service/README.md); a `.js` name
 * (what tsc emits into dist/) is found through its `.ts` source.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const tracked = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" })
  .split("\n")
  .filter(Boolean);
const files = new Set(tracked);
const dirs = new Set(tracked.flatMap((f) => f.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))));
const pages = tracked.filter((f) => f === "README.md" || /^docs\/[^/]+\.md$/.test(f) || /^examples\/[^/]+\/README\.md$/.test(f));

const EXT = "md|ts|js|mjs|cjs|json|ya?ml|sh|txt|svg|csv";
/** A file name with an extension, or a path ending in `/`; not part of a URL or a package name. */
const pathLike = new RegExp(
  String.raw`(?<![\w/.@:-])((?:\.{1,2}/)?(?:[\w@.-]+/)*[\w.-]*[\w-]\.(?:${EXT})|(?:\.{1,2}/)?(?:[\w.-]+/)+)(?=[\s\`'")\],:;!?]|\.(?:\s|$)|$)`,
  "g",
);

/**
 * Names that look like files but are not: a format, a product, and directories a documented
 * command makes itself (IDL.md: `git archive v1.2 schemas | tar -x -C baseline/`).
 */
const notFiles = new Set([".grid.ts", "Node.js", ".ts", ".js", ".md", "baseline/"]);

function exists(name: string, page: string): boolean {
  const clean = name.replace(/^\.\//, "").replace(/\/$/, "");
  const candidates = [clean];
  if (/\.(m|c)?js$/.test(clean)) candidates.push(clean.replace(/^(\.\.\/)*dist\//, "").replace(/\.(m|c)?js$/, ".ts"));
  for (const c of candidates) {
    for (const base of [path.posix.dirname(page), "."]) {
      const resolved = path.posix.normalize(path.posix.join(base, c));
      if (files.has(resolved) || dirs.has(resolved)) return true;
    }
    const suffix = `/${c.replace(/^(\.\.\/)+/, "")}`;
    if (tracked.some((f) => f.endsWith(suffix)) || [...dirs].some((d) => d.endsWith(suffix))) return true;
  }
  return false;
}

/** Every file name a page gives, with the line it is on. */
function named(page: string): { name: string; line: number }[] {
  const text = readFileSync(path.join(root, page), "utf8");
  const out: { name: string; line: number }[] = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) return;
    for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      out.push({ name: target!.split("#")[0]!, line: i + 1 });
    }
    const prose = line.replace(/\]\([^)]*\)/g, "]").replace(/\b(?:https?|wss?):\/\/\S+/g, "");
    for (const [, name] of prose.matchAll(pathLike)) {
      if (!notFiles.has(name!)) out.push({ name: name!, line: i + 1 });
    }
  });
  return out;
}

describe("every file a document names exists", () => {
  it("finds the pages and checks a fair number of names", () => {
    expect(pages).toEqual(expect.arrayContaining(["README.md", "docs/IDL.md", "docs/streams.md", "examples/quickstart/README.md"]));
    expect(pages.map(named).flat().length).toBeGreaterThan(100);
  });

  for (const page of pages) {
    it(page, () => {
      const missing = named(page).filter(({ name }) => !exists(name, page)).map(({ name, line }) => `${page}:${line}: ${name}`);
      expect(missing).toEqual([]);
    });
  }

  it("the check itself catches a missing file, in a link and in prose", () => {
    expect(exists("PRIOR-ART.md", "docs/IDL.md")).toBe(false);
    expect(exists("examples/quickstart/nope.ts", "README.md")).toBe(false);
    expect(exists("dist/examples/patterns/errors.js", "docs/errors.md")).toBe(true);
    expect(exists("client.ts", "examples/lock-service/README.md")).toBe(true);
  });
});

describe("doc claims the code keeps", () => {
  const read = (page: string): string => readFileSync(path.join(root, page), "utf8");

  it("operations.md does not promise that CallTrace feeds an OpenTelemetry span exporter", () => {
    // A CallTrace arrives after the call, without trace ids: tsgrid/otel is what makes spans.
    expect(read("docs/operations.md")).not.toMatch(/OpenTelemetry span exporter/);
    expect(read("docs/operations.md")).toContain("carries no trace context");
  });

  it("errors.md says what a call made while the handshake is refused gets", () => {
    const errors = read("docs/errors.md");
    expect(errors).toMatch(/a call made meanwhile fails with `disconnected` \(nothing ran\), whose `cause` is this error/);
  });
});

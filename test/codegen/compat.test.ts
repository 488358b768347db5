/**
 * `gridgen --against <baseline>`: which schema changes old and new nodes of a cluster (upgraded
 * one at a time, calling each other both ways) can live with, and which they cannot.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { formatDiagnostic } from "../../codegen/diagnostics.js";
import { checkAgainst, generate } from "../../codegen/generate.js";
import { runGridgen } from "../../codegen/run.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Inside the repository, so that `tsgrid/idl` resolves.
const dir = mkdtempSync(path.join(root, "test/codegen/.tmp-compat-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const baseline = `import type { Service, Single, Stream } from "tsgrid/idl";
export enum Kind { A = "a", B = "b" }
export interface Node { name: string; children: Node[] }
export interface Req { id: string; tags: string[]; kind: Kind; note?: string; meta: Record<string, number>; tree?: Node }
export interface Res { ok: boolean; size: bigint }
export interface Api extends Service {
  get: Single<1, Req, Res>;
  list: Stream<2, { payload: Req; out: Res; outCapacity: 8 }>;
  sync: Stream<3, { in: Req; out: Res }>;
}
`;

let n = 0;
/** Compares `after` (a change of the baseline) with the baseline; returns the formatted diagnostics. */
function compare(after: string): string[] {
  const caseDir = path.join(dir, `case${n++}`);
  mkdirSync(path.join(caseDir, "before"), { recursive: true });
  mkdirSync(path.join(caseDir, "after"), { recursive: true });
  writeFileSync(path.join(caseDir, "before/api.grid.ts"), baseline);
  writeFileSync(path.join(caseDir, "after/api.grid.ts"), after);
  const current = generate(["after/api.grid.ts"], caseDir);
  expect(current.diagnostics.map(formatDiagnostic)).toEqual([]);
  return checkAgainst(current.schema, ["before/api.grid.ts"], caseDir).map(formatDiagnostic);
}

describe("compatible changes", () => {
  const cases: [string, string][] = [
    ["no change", baseline],
    ["an optional field added", baseline.replace("note?: string;", "note?: string; extra?: number;")],
    ["an optional field removed", baseline.replace("note?: string; ", "")],
    ["a handler renamed (same id)", baseline.replace("get: Single", "fetch: Single")],
    ["a message renamed (same fields)", baseline.replaceAll("Res", "Reply")],
    ["capacities changed", baseline.replace("outCapacity: 8", "outCapacity: 64")],
    ["a handler added", baseline.replace("  sync:", "  put: Single<4, Req, Res>;\n  sync:")],
    ["Record and Map with string keys swapped", baseline.replace("Record<string, number>", "Map<string, number>")],
    ["an alias introduced", baseline.replace("id: string;", "id: Id;").replace("export enum", "export type Id = string;\nexport enum")],
  ];
  for (const [name, after] of cases) it(name, () => expect(compare(after)).toEqual([]));
});

describe("breaking changes", () => {
  it("a required field added", () => {
    expect(compare(baseline.replace("ok: boolean;", "ok: boolean; code: number;"))).toEqual([
      "after/api.grid.ts:7:15 - error GG202: Api.get response (handler id 1) is not wire-compatible with the baseline: Res.code is required but may be absent (add fields as optional) (new nodes would reject what old nodes send)",
      "after/api.grid.ts:8:16 - error GG202: Api.list out (handler id 2) is not wire-compatible with the baseline: Res.code is required but may be absent (add fields as optional) (new nodes would reject what old nodes send)",
      "after/api.grid.ts:9:16 - error GG202: Api.sync out (handler id 3) is not wire-compatible with the baseline: Res.code is required but may be absent (add fields as optional) (new nodes would reject what old nodes send)",
    ]);
  });

  it("a required field removed, or made optional", () => {
    expect(compare(baseline.replace("ok: boolean; ", ""))[0]).toContain("Res.ok is required but may be absent (add fields as optional) (old nodes would reject what new nodes send)");
    expect(compare(baseline.replace("ok: boolean;", "ok?: boolean;"))[0]).toContain("Res.ok is required but may be absent");
  });

  it("a field's type changed, deep inside a recursive type too", () => {
    expect(compare(baseline.replace("size: bigint", "size: number"))[0]).toContain("GG202: Api.get response (handler id 1) is not wire-compatible with the baseline: Res.size: bigint is not accepted");
    expect(compare(baseline.replace("children: Node[]", "children: string[]"))[0]).toContain("Req.tree.children[]: Node is not accepted");
  });

  it("an enum member added: old nodes reject it", () => {
    expect(compare(baseline.replace('B = "b"', 'B = "b", C = "c"'))[0]).toContain('Req.kind: "c" is not accepted (old nodes would reject what new nodes send)');
  });

  it("a field made nullable", () => {
    expect(compare(baseline.replace("id: string;", "id: string | null;"))[0]).toContain("Req.id: null is not accepted (old nodes would reject what new nodes send)");
  });

  it("a handler removed, or its form changed", () => {
    expect(compare(baseline.replace(/ {2}sync: .*\n/, ""))).toEqual([
      "before/api.grid.ts:9:16 - error GG200: handler id 3 (Api.sync) was removed: deployed callers still call it (keep it, or retire it once no caller is left)",
    ]);
    expect(compare(baseline.replace("sync: Stream<3, { in: Req; out: Res }>", "sync: Stream<3, { payload: Req; in: Req; out: Res }>"))).toEqual([
      "after/api.grid.ts:9:16 - error GG201: handler id 3 (Api.sync) changed form from Stream{in, out} to Stream{payload, in, out}: give the new form a new id",
    ]);
  });

  it("a request added to, or removed from, a handler without one (Single<Id, void, Res>)", () => {
    expect(compare(baseline.replace("get: Single<1, Req, Res>", "get: Single<1, void, Res>"))).toEqual([
      "after/api.grid.ts:7:15 - error GG201: handler id 1 (Api.get) changed form from Single to Single without request (void): give the new form a new id",
    ]);
  });

  it("the CLI fails (exit 1, nothing written) on a breaking change with --against", async () => {
    const caseDir = path.join(dir, "cli");
    mkdirSync(path.join(caseDir, "before"), { recursive: true });
    mkdirSync(path.join(caseDir, "after"), { recursive: true });
    writeFileSync(path.join(caseDir, "before/api.grid.ts"), baseline);
    writeFileSync(path.join(caseDir, "after/api.grid.ts"), baseline.replace("ok: boolean;", "ok: string;"));
    let err = "";
    const io = { cwd: caseDir, stdout: () => {}, stderr: (t: string) => (err += t) };
    expect(await runGridgen(["after", "-o", "out", "--against", "before"], io)).toBe(1);
    expect(err).toContain("error GG202: Api.get response (handler id 1) is not wire-compatible with the baseline: Res.ok: boolean is not accepted");
    writeFileSync(path.join(caseDir, "after/api.grid.ts"), baseline.replace("note?: string;", "note?: string; more?: string;"));
    expect(await runGridgen(["after", "-o", "out", "--against", "before"], io)).toBe(0);
  });
});

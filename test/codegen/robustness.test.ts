/** gridgen never crashes on a broken schema: each of these gives located diagnostics and no code, never an exception. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { formatDiagnostic } from "../../codegen/diagnostics.js";
import { generate } from "../../codegen/generate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Inside the repository, so that `tsgrid/idl` resolves.
const dir = mkdtempSync(path.join(root, "test/codegen/.tmp-robust-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const idl = 'import type { Service, Single, Stream } from "tsgrid/idl";\n';
const broken: [string, string][] = [
  ["syntax error", "export interface A { x: }"],
  ["missing alias type", "export type X = ;"],
  ["unclosed interface", "export interface A { x: string;"],
  ["binary junk", "\u0000\u0001\u00ff{{{"],
  ["empty Single", `${idl}export interface S extends Service { f: Single<>; }`],
  ["Stream without spec", `${idl}export interface A { n: number }\nexport interface S extends Service { f: Stream<1>; }`],
  ["Stream with a string spec", `${idl}export interface S extends Service { f: Stream<1, string>; }`],
  ["namespace", "export namespace N { export const x = 1; }"],
  ["re-export", 'export * from "./other.grid.js";'],
  ["computed enum value", 'export enum E { A = "a".length }'],
  ["declaration merging", "export interface A { x: string }\nexport interface A { y: number }"],
  ["unknown name", "export interface A { x: Missing; y: Missing<string> }"],
  ["self-referencing alias through Map", "export type T = Map<string, T>;"],
  ["Map without arguments", "export interface A { m: Map; r: Record<string>; a: Array }"],
  ["service extending a message", `${idl}export interface A { n: number }\nexport interface S extends Service, A { f: Single<1, A, A> }`],
  ["marker as a field type", `${idl}export interface A { s: Single<1, A, A> }`],
  ["handler message that is an enum", `${idl}export enum E { A = 1 }\nexport interface S extends Service { f: Single<1, E, E> }`],
  ["__proto__ field", 'export interface A { "__proto__": string }'],
  ["negative and huge literals", "export interface A { a: -0; b: 1e400; c: -1e400 }"],
];

for (const [name, source] of broken) {
  it(name, () => {
    const file = path.join(dir, `${name.replaceAll(" ", "-")}.grid.ts`);
    writeFileSync(file, source);
    const result = generate([file], dir);
    expect(result.diagnostics.length).toBeGreaterThan(0);
    expect(result.files).toEqual([]);
    for (const d of result.diagnostics) expect(formatDiagnostic(d)).toMatch(/^[\w.-]+\.grid\.ts:\d+:\d+ - error GG\d{3}: \S/);
  });
}

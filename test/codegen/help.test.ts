/**
 * `--help` of gridgen and of the demo (`npm start -- --help`) never cut a word in two, at any
 * terminal width (yargs' layout printed `--against d` / `eployed/schemas/` and `cluste` / `r`),
 * and `gridgen --version` prints the package's version.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatHelp, helpWidth, wrapWords } from "../../codegen/help.js";
import { runGridgen } from "../../codegen/run.js";
import { demoHelp } from "../../examples/lock-service/cli.js";

async function gridgenHelp(columns: number | undefined, flag = "--help"): Promise<string> {
  let out = "";
  const code = await runGridgen([flag], { cwd: process.cwd(), columns, stdout: (t) => (out += t), stderr: (t) => (out += t) });
  expect(code).toBe(0);
  return out;
}

/** Every word of `text` (whitespace-separated) appears whole in `help`, and no line exceeds `width` unless it is one word. */
function wordsIntact(help: string, width: number, words: string[]): void {
  const tokens = new Set(help.split(/\s+/));
  for (const w of words) expect(tokens, `"${w}" is cut`).toContain(w);
  for (const line of help.split("\n")) {
    if (line.length > width) expect(line.trim().split(/\s+/), `line too long: ${line}`).toHaveLength(1);
  }
}

describe("--help never cuts a word", () => {
  for (const columns of [undefined, 40, 53, 60, 80, 81, 120, 200]) {
    it(`gridgen --help, ${columns ?? "not a terminal"}`, async () => {
      const width = helpWidth(columns);
      const help = await gridgenHelp(columns);
      wordsIntact(help, width, ["deployed/schemas/", "--against", "<baseline>", "baseline", "schemas", "generated/", "stale,", "--watch"]);
      if (columns !== undefined) for (const line of help.split("\n")) expect(line.length).toBeLessThan(columns);
    });

    it(`npm start -- --help, ${columns ?? "not a terminal"}`, () => {
      const width = helpWidth(columns);
      const help = demoHelp(columns);
      wordsIntact(help, width, ["cluster:", "distributed", "--base-port", "reconnect", "(bidirectional", "127.0.0.1]"]);
      for (const flag of ["--nodes", "--duration", "--base-port", "--host", "--chaos", "--help"]) expect(help).toContain(flag);
    });
  }

  it("wraps at word boundaries; a word longer than the width stays whole", () => {
    expect(wrapWords("aaa bbb ccc", 7)).toEqual(["aaa bbb", "ccc"]);
    expect(wrapWords("a verylongword b", 5)).toEqual(["a", "verylongword", "b"]);
    const text = formatHelp({ usage: "x", options: [{ flags: "--a-very-long-flag-name-indeed-yes-it-is", text: "what it does, at length" }] }, 50);
    expect(text).toContain("--a-very-long-flag-name-indeed-yes-it-is");
  });
});

describe("gridgen --version", () => {
  it("prints the package version", async () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(await gridgenHelp(undefined, "--version")).toBe(`gridgen ${pkg.version}\n`);
  });
});

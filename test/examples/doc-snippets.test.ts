/**
 * Every TypeScript block in the README and in the docs pages of the examples is a copy of code
 * that runs in the tests. A block is preceded by a marker naming its source:
 *
 *   <!-- snippet: examples/quickstart/main.ts#call -->     a `// #region call` of that file
 *   <!-- snippet: examples/quickstart/greeter.grid.ts -->  the whole file
 *
 * and must equal that source (indentation of the region removed). A `ts` block without a
 * marker fails the test, so no snippet can drift from the code.
 *
 * After changing an example, refresh the copies with:
 *   UPDATE_DOC_SNIPPETS=1 npx vitest run test/examples/doc-snippets.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const pages = ["README.md", "docs/getting-started.md", "docs/streams.md", "docs/errors.md", "docs/deadlines-and-cancellation.md", "docs/operations.md", "docs/auth.md", "docs/testing.md", "docs/observability.md", "docs/deployment.md"];
const TS = new Set(["ts", "typescript"]);

interface Block {
  lang: string;
  code: string;
  marker: string | undefined;
  /** 1-based line of the opening fence. */
  line: number;
  /** 0-based line indexes of the code: [from, to). */
  from: number;
  to: number;
}

function blocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && lines[j] !== "```") j++;
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === "") k--;
    const marker = /^<!-- snippet: (\S+) -->$/.exec(lines[k] ?? "")?.[1];
    out.push({ lang: open[1]!, code: lines.slice(i + 1, j).join("\n"), marker, line: i + 1, from: i + 1, to: j });
    i = j;
  }
  return out;
}

function dedent(lines: string[]): string {
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

/** The text a marker names: a whole file, or one `// #region` of it (nested region lines removed). */
function source(marker: string): string {
  const [path, region] = marker.split("#");
  const text = readFileSync(new URL(path!, root), "utf8");
  if (region === undefined) return text.trimEnd();
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === `// #region ${region}`);
  const end = lines.findIndex((l) => l.trim() === `// #endregion ${region}`);
  if (start < 0 || end < start) throw new Error(`${path} has no region "${region}"`);
  return dedent(lines.slice(start + 1, end).filter((l) => !/^\s*\/\/ #(end)?region\b/.test(l)));
}

describe("links of the docs pages point to files that exist", () => {
  for (const page of pages) {
    const url = new URL(page, root);
    it.skipIf(!existsSync(url))(page, () => {
      const markdown = readFileSync(url, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target!)) continue;
        const path = target!.split("#")[0]!;
        const resolved = path.startsWith("/") ? new URL(`.${path}`, root) : new URL(path, url);
        expect(existsSync(resolved), `${page}: broken link ${target}`).toBe(true);
      }
    });
  }
});

describe("doc snippets are copies of tested code", () => {
  for (const page of pages) {
    const url = new URL(page, root);
    it.skipIf(!existsSync(url))(page, () => {
      const markdown = readFileSync(url, "utf8");
      const found = blocks(markdown);
      if (process.env["UPDATE_DOC_SNIPPETS"]) {
        const lines = markdown.split("\n");
        for (const b of [...found].reverse()) if (b.marker) lines.splice(b.from, b.to - b.from, ...source(b.marker).split("\n"));
        writeFileSync(url, lines.join("\n"));
        return;
      }
      for (const b of found) {
        if (!b.marker) {
          expect(TS.has(b.lang), `${page}:${b.line}: a ${b.lang} block needs a <!-- snippet: file#region --> marker`).toBe(false);
          continue;
        }
        expect(b.code, `${page}:${b.line} differs from ${b.marker}`).toBe(source(b.marker));
      }
    });
  }
});

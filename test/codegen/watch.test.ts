/**
 * `gridgen --watch` survives how editors save: by rename (`sed -i`, vim, many IDEs write a new
 * file and rename it over the old one), any number of times; new files; deleted and re-created
 * files. On main before this, the first rename-save regenerated and no later edit of that file
 * did, silently. Each case for a directory input and for a file input.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runGridgen } from "../../codegen/run.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Inside the repository, so that `tsgrid/idl` resolves.
const base = mkdtempSync(path.join(root, "test/codegen/.tmp-watch-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not seen in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const read = (p: string): string => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
};

/** Saves `file` the way sed -i and vim do: a new file renamed over the old one. */
function renameSave(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

let n = 0;
/** Runs `gridgen <input> -o out --watch` in a fresh copy of schemas/; `body` gets the paths. */
async function watching(input: "dir" | "file", body: (schemas: string, out: string) => Promise<void>): Promise<void> {
  const dir = path.join(base, `case${n++}`);
  cpSync(path.join(root, "schemas"), path.join(dir, "schemas"), { recursive: true });
  const stop = new AbortController();
  let log = "";
  const done = runGridgen([input === "dir" ? "schemas" : "schemas/locks.grid.ts", "-o", "out", "--watch"], {
    cwd: dir,
    signal: stop.signal,
    stdout: (t) => (log += t),
    stderr: (t) => (log += t),
  });
  try {
    await until("watching", () => log.includes("gridgen: watching"));
    await body(path.join(dir, "schemas"), path.join(dir, "out"));
  } catch (err) {
    throw new Error(`${(err as Error).message}\ngridgen said:\n${log}`);
  } finally {
    stop.abort();
  }
  expect(await done).toBe(0);
}

const addField = (text: string, field: string): string => text.replace("  quorum: number;", `  quorum: number;\n  ${field}?: number;`);

for (const input of ["dir", "file"] as const) {
  describe(`gridgen --watch, ${input === "dir" ? "a directory" : "a file"} as input`, () => {
    it("sees every rename-save of a schema, five in a row", async () => {
      await watching(input, async (schemas, out) => {
        const file = path.join(schemas, "locks.grid.ts");
        const original = readFileSync(file, "utf8");
        for (let i = 0; i < 5; i++) {
          renameSave(file, addField(original, `renamed${i}`));
          await until(`save ${i}`, () => read(path.join(out, "locks.ts")).includes(`renamed${i}?: number | undefined;`));
        }
        // A plain in-place write after the renames is seen too.
        writeFileSync(file, addField(original, "inPlace"));
        await until("in-place write", () => read(path.join(out, "locks.ts")).includes("inPlace?: number | undefined;"));
      });
    }, 120_000);

    it("sees a schema deleted and re-created", async () => {
      await watching(input, async (schemas, out) => {
        const file = path.join(schemas, "locks.grid.ts");
        const original = readFileSync(file, "utf8");
        rmSync(file);
        await new Promise((r) => setTimeout(r, 400));
        writeFileSync(file, addField(original, "recreated"));
        await until("re-created", () => read(path.join(out, "locks.ts")).includes("recreated?: number | undefined;"));
        renameSave(file, addField(original, "afterRecreate"));
        await until("rename-save after re-creation", () => read(path.join(out, "locks.ts")).includes("afterRecreate?: number | undefined;"));
      });
    }, 120_000);
  });
}

describe("gridgen --watch, new files", () => {
  it("generates a new schema, in a new subdirectory too, and sees its rename-saves", async () => {
    await watching("dir", async (schemas, out) => {
      const extra = `import type { Service, Single } from "tsgrid/idl";\nexport interface Ping { n: number }\nexport interface Pinger extends Service { ping: Single<90, Ping, Ping>; }\n`;
      writeFileSync(path.join(schemas, "ping.grid.ts"), extra);
      await until("new file", () => read(path.join(out, "ping.ts")).includes("export class PingerClient"));
      mkdirSync(path.join(schemas, "more"));
      await new Promise((r) => setTimeout(r, 400));
      writeFileSync(path.join(schemas, "more/pong.grid.ts"), extra.replaceAll("Ping", "Pong").replace("90", "91"));
      await until("new file in a new directory", () => read(path.join(out, "pong.ts")).includes("export class PongerClient"));
      for (let i = 0; i < 3; i++) {
        renameSave(path.join(schemas, "more/pong.grid.ts"), extra.replaceAll("Ping", "Pong").replace("90", "91").replace("n: number", `n: number; v${i}?: string`));
        await until(`rename-save ${i} in the new directory`, () => read(path.join(out, "pong.ts")).includes(`v${i}?: string | undefined;`));
      }
    });
  }, 120_000);
});

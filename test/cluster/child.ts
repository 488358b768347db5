/** Runs a TypeScript fixture in a child `node` process (see fixtures/register-ts.mjs). */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

export interface Child {
  process: ChildProcess;
  /** Lines the child printed on stdout so far. */
  lines: string[];
  /** Resolves with the first stdout line starting with `prefix`. */
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the child is gone. */
  exited: Promise<number | string>;
}

export function runFixture(file: string, arg: unknown): Child {
  const child = spawn(process.execPath, ["--import", `${fixtures}register-ts.mjs`, `${fixtures}${file}`, JSON.stringify(arg)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: string[] = [];
  const watchers = new Set<() => void>();
  let buffered = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
    for (const watcher of [...watchers]) watcher();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      for (const watcher of [...watchers]) watcher();
      resolve(code ?? signal ?? "unknown");
    }),
  );
  const waitFor = (prefix: string, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines.find((l) => l.startsWith(prefix));
        if (line !== undefined) done(() => resolve(line));
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(() => reject(new Error(`child exited before printing "${prefix}"`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`child did not print "${prefix}" in ${timeoutMs} ms`))), timeoutMs);
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        watchers.delete(check);
        fn();
      };
      watchers.add(check);
      check();
    });
  return { process: child, lines, waitFor, exited };
}

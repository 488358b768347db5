/**
 * The `gridgen` executable: bin/gridgen.js imports the compiled form of this module, which runs
 * the command line at once.
 */
import { runGridgen } from "./run.js";

const interrupt = new AbortController();
process.once("SIGINT", () => interrupt.abort());
const code = await runGridgen(process.argv.slice(2), {
  cwd: process.cwd(),
  signal: interrupt.signal,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
});
process.exitCode = code;

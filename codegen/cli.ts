/**
 * The `gridgen` executable: bin/gridgen.js imports the compiled form of this module, which runs
 * the command line at once.
 */
import { runGridgen } from "./run.js";

const code = await runGridgen(process.argv.slice(2), {
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
process.exitCode = code;

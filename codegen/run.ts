/**
 * The gridgen command line (yargs): `gridgen <dirs or files...> -o <out> [--check] [--watch]`.
 * `runGridgen` takes its arguments and output streams so tests run it in-process.
 */
import { existsSync, readdirSync, readFileSync, statSync, watch } from "node:fs";
import type { Dirent, FSWatcher } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yargs from "yargs";
import { formatDiagnostic } from "./diagnostics.js";
import { diffOutput, findSchemas, schemaSuffix, writeOutput } from "./files.js";
import { checkAgainst, generate } from "./generate.js";
import { formatHelp, helpWidth } from "./help.js";
import type { HelpSpec } from "./help.js";

export interface GridgenIO {
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Ends `--watch` (the CLI aborts it on SIGINT). Without one, `--watch` runs until the process ends. */
  signal?: AbortSignal;
  /** Width of the terminal stdout is, if it is one: `--help` is laid out to fit it. */
  columns?: number | undefined;
}

const help: HelpSpec = {
  usage: "gridgen <dirs or files...> -o <out> [--check] [--watch] [--against <baseline>]",
  description:
    "Typed clients, servers and validating codecs from .grid.ts schemas: one .ts file per schema in <out>. " +
    "Directories are searched for *.grid.ts files.",
  options: [
    { flags: "-o, --out <dir>", text: "output directory (one .ts file per schema) [required]" },
    { flags: "--check", text: "write nothing; exit 1 and name the stale files if <out> differs (for CI)" },
    { flags: "-w, --watch", text: "regenerate whenever a schema changes, until interrupted" },
    { flags: "--against <baseline>", text: "baseline schemas (as deployed): fail on changes old and new nodes cannot both live with" },
    { flags: "-h, --help", text: "show this help" },
    { flags: "--version", text: "show gridgen's version" },
  ],
  examples: [
    { command: "gridgen schemas/ -o generated/", text: "generate" },
    { command: "gridgen schemas/ -o generated/ --check", text: "fail (exit 1) when generated/ is stale, for CI" },
    { command: "gridgen schemas/ -o generated/ --check --against deployed/schemas/", text: "also fail on breaking changes" },
    { command: "gridgen schemas/ -o generated/ --watch", text: "regenerate on every save" },
  ],
};

/** The version of the tsgrid package gridgen belongs to (its package.json, found upwards). */
export function gridgenVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "tsgrid" && typeof pkg.version === "string") return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return "unknown";
}

interface Options {
  inputs: string[];
  out: string;
  check: boolean;
  watch: boolean;
  against: string | undefined;
}

/** Debounce of `--watch`: editors write a file in several steps. */
const watchDebounceMs = 100;

/** Runs gridgen; resolves to the exit code (0 ok, 1 errors or stale output, 2 bad usage). */
export async function runGridgen(argv: readonly string[], io: GridgenIO): Promise<number> {
  // Laid out by hand (codegen/help.ts): yargs' layout cut words in two on narrow terminals.
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(formatHelp(help, helpWidth(io.columns)));
    return 0;
  }
  if (argv.includes("--version")) {
    io.stdout(`gridgen ${gridgenVersion()}\n`);
    return 0;
  }
  let usageError: string | undefined;
  const parser = yargs([...argv])
    .scriptName("gridgen")
    .usage("$0 <dirs or files...> -o <out>\n\nTyped clients, servers and validating codecs from schemas.")
    .command("$0 <inputs..>", false, (y) =>
      y.positional("inputs", { type: "string", array: true, describe: "schema files, or directories searched for *.grid.ts" }),
    )
    .option("out", { alias: "o", type: "string", demandOption: true, describe: "output directory (one .ts file per schema)" })
    .option("check", { type: "boolean", default: false, describe: "write nothing; exit 1 and name the stale files if <out> differs" })
    .option("watch", { alias: "w", type: "boolean", default: false, describe: "regenerate whenever a schema changes" })
    .option("against", {
      type: "string",
      describe: "baseline schemas (as deployed): fail on changes old and new nodes cannot both live with",
    })
    .check((a) => {
      if (a.check === true && a.watch === true) throw new Error("--check and --watch cannot be used together");
      return true;
    })
    .strict()
    .help(false)
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      usageError = msg ?? err?.message ?? "bad arguments";
    });
  const args = await parser.parseAsync([...argv], {}, () => {});
  if (usageError !== undefined) {
    io.stderr(`gridgen: ${usageError}\nRun gridgen --help for usage.\n`);
    return 2;
  }
  const inputs: unknown = (args as { inputs?: unknown }).inputs;
  const opts: Options = {
    inputs: Array.isArray(inputs) ? inputs.map(String) : [],
    out: String(args.out),
    check: args.check,
    watch: args.watch,
    against: args.against,
  };
  if (opts.watch) return watchLoop(opts, io);
  return guarded(opts, io);
}

/** `once`, reporting a failure of the file system (a file removed mid-run...) as exit code 1. */
function guarded(opts: Options, io: GridgenIO): number {
  try {
    return once(opts, io);
  } catch (err) {
    io.stderr(`gridgen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function once(opts: Options, io: GridgenIO): number {
  const found = findSchemas(opts.inputs, io.cwd);
  const result = found.diagnostics.length > 0 ? undefined : generate(found.files, io.cwd);
  let diagnostics = result === undefined ? found.diagnostics : result.diagnostics;
  if (result !== undefined && diagnostics.length === 0 && opts.against !== undefined) {
    const baseline = findSchemas([opts.against], io.cwd);
    diagnostics = baseline.diagnostics.length > 0 ? baseline.diagnostics : checkAgainst(result.schema, baseline.files, io.cwd);
  }
  if (diagnostics.length > 0 || result === undefined) {
    for (const d of diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
    io.stderr(`\nFound ${diagnostics.length} error${diagnostics.length === 1 ? "" : "s"}; nothing was written.\n`);
    return 1;
  }
  const outDir = path.resolve(io.cwd, opts.out);
  const diff = diffOutput(outDir, result.files);
  const rel = (name: string): string => path.relative(io.cwd, path.join(outDir, name)).split(path.sep).join("/");
  if (opts.check) {
    if (diff.changed.length === 0 && diff.removed.length === 0) return 0;
    for (const name of diff.changed) io.stderr(`${rel(name)} is stale\n`);
    for (const name of diff.removed) io.stderr(`${rel(name)} is no longer generated\n`);
    io.stderr(`gridgen: ${opts.out} is out of date; run: gridgen ${opts.inputs.join(" ")} -o ${opts.out}\n`);
    return 1;
  }
  writeOutput(outDir, result.files, diff);
  io.stdout(`gridgen: ${result.files.length} file${result.files.length === 1 ? "" : "s"} in ${opts.out} (${diff.changed.length} written, ${diff.removed.length} removed)\n`);
  return 0;
}

/**
 * Regenerates on every change of the inputs until `io.signal` aborts; resolves to 0 then.
 *
 * Watches directories, never files, and without `recursive` (one non-recursive watcher per
 * directory, re-synced on every change): a file watcher follows the file's inode, and Node's
 * recursive watcher on Linux follows files too, so an editor that saves by rename (`sed -i`, vim,
 * many IDEs: write a new file, rename it over the old one) left them watching a deleted file and
 * every later edit was missed. A directory sees every rename into it.
 */
function watchLoop(opts: Options, io: GridgenIO): Promise<number> {
  guarded(opts, io);
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const rerun = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (stopped) return;
      sync();
      io.stdout("gridgen: change detected, regenerating\n");
      guarded(opts, io);
    }, watchDebounceMs);
  };
  const relevant = (name: string | Buffer | null): boolean => {
    if (name === null) return true;
    const base = path.basename(String(name));
    // Schemas, and directories (which may hold schemas); not the editors' temporary files.
    return base.endsWith(schemaSuffix) || !base.includes(".");
  };
  const sync = (): void => {
    const wanted = watchedDirs(opts.inputs, io.cwd);
    for (const [dir, w] of watchers) {
      if (!wanted.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, (_event, name) => {
          if (relevant(name)) rerun();
        });
        // A directory removed under us: dropped, and looked for again at the next change.
        w.on("error", () => {
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // Gone between the scan and the watch: the next change re-syncs.
      }
    }
  };
  sync();
  io.stdout(`gridgen: watching ${opts.inputs.join(" ")}\n`);
  return new Promise((resolve) => {
    const stop = (): void => {
      stopped = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      resolve(0);
    };
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener("abort", stop, { once: true });
  });
}

/**
 * The directories to watch for `inputs`: every directory under a directory input (skipping
 * node_modules and dot-directories, as the schema search does), and the directory of a file input.
 */
function watchedDirs(inputs: readonly string[], cwd: string): Set<string> {
  const dirs = new Set<string>();
  const walk = (dir: string): void => {
    dirs.add(dir);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules") walk(path.join(dir, e.name));
    }
  };
  for (const input of inputs) {
    const absolute = path.resolve(cwd, input);
    let isDir = false;
    try {
      isDir = statSync(absolute).isDirectory();
    } catch {
      // Missing: watch where it would appear.
    }
    if (isDir) walk(absolute);
    else if (existsSync(path.dirname(absolute))) dirs.add(path.dirname(absolute));
  }
  return dirs;
}

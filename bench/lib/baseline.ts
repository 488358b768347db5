/**
 * The before/after mode (`--baseline <git-ref>`): the CURRENT harness (bench/) drives an OLD
 * runtime, so every tsgrid row is measured before and after in one run.
 *
 * A baseline directory holds the ref's files (`git archive`), its dependencies (the current
 * node_modules, linked, when every dependency the ref pins is installed here at that exact
 * version; `npm ci` otherwise), its runtime and gridgen built with its own compiler, and a
 * copy of the current bench/ sources (re-copied every run) whose `generated/` is the OLD
 * gridgen's output, compiled against the OLD runtime. Type errors do not stop the build (tsc
 * still emits): a row whose code needs what the old runtime lacks fails at run time with
 * "n/a in baseline: ..." (the stubs below), or is left out up front by BASELINE_FEATURES when
 * the old runtime would silently ignore it (an option it does not know).
 *
 * The package's entry points (`tsgrid`, `tsgrid/otel`...) resolve, in the baseline directory,
 * to small shim modules that re-export the old runtime and stub every name the current runtime
 * exports and the old one does not.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The marker every "not in the baseline" error message starts with. */
export const NA_IN_BASELINE = "n/a in baseline";

/** What the stamp file of a prepared baseline directory records. */
export interface BaselineStamp {
  ref: string;
  commit: string;
  /** How its dependencies were installed. */
  deps: "linked" | "npm ci";
  /** Steps done: extracted, deps, built (runtime and gridgen). */
  stage: "extracted" | "deps" | "built";
}

/** A baseline ready to run: where its compiled bench is and which rows it cannot run. */
export interface PreparedBaseline {
  ref: string;
  commit: string;
  dir: string;
  /** dist/bench of the baseline directory (the current harness built against the old runtime). */
  distBench: string;
  deps: BaselineStamp["deps"];
  /** Row id prefix -> why the row is not measured in the baseline. */
  unavailable: { prefix: string; why: string }[];
  /** Names the current runtime exports and the old one does not (stubbed), per entry point. */
  stubbed: Record<string, string[]>;
  /** The first type errors of the current bench against the old runtime (tsc emits anyway). */
  typeErrors: string[];
  /** What the preparation had to do differently (gridgen failed...). */
  notes: string[];
}

const STAMP = ".tsgrid-baseline.json";
/** Bounds of the preparation steps, ms. */
const GIT_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 600_000;
const BUILD_TIMEOUT_MS = 600_000;

/** The default directory of a ref's baseline: bench/.baseline/<ref> (gitignored). */
export function defaultBaselineDir(repoRoot: string, ref: string): string {
  return join(repoRoot, "bench", ".baseline", ref.replace(/[^\w.-]+/g, "_"));
}

/**
 * Values for constants the old runtime does not export, where the old code had the same
 * value under another name (a stub would break every row that reads it at start-up).
 */
export const BASELINE_FALLBACKS: Record<string, { value: number; why: string }> = {
  DEFAULT_IN_CAPACITY: { value: 32, why: "before it was exported, generated code passed 32 (codegen/emit/service.ts defaultInCapacity)" },
};

/**
 * Rows the old runtime would run WITHOUT the feature they measure (it ignores an option it
 * does not know), so they are left out of the baseline up front: each probe says whether the
 * baseline has the feature.
 */
export interface FeatureProbe {
  feature: string;
  /** Row id prefixes that need it. */
  rows: string[];
  has(b: { dir: string; oldExports: Record<string, Set<string>>; oldSubpaths: Set<string> }): boolean;
}

/** True when a TypeScript file under `dir/runtime` (not a test) matches `re`. */
function runtimeSourceMatches(dir: string, re: RegExp): boolean {
  const walk = (d: string): boolean =>
    readdirSync(d, { withFileTypes: true }).some((e) => {
      const p = join(d, e.name);
      if (e.isDirectory()) return walk(p);
      return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && re.test(readFileSync(p, "utf8"));
    });
  return existsSync(join(dir, "runtime")) && walk(join(dir, "runtime"));
}

export const BASELINE_FEATURES: FeatureProbe[] = [
  {
    feature: "per-call metadata",
    rows: ["tsgrid.metadata."],
    has: (b) => b.oldExports["."]?.has("MAX_METADATA_BYTES") === true,
  },
  {
    feature: "interceptors (a Manager/Connection option)",
    rows: ["tsgrid.interceptor.", "tsgrid.otel", "tsgrid.metrics."],
    has: (b) => runtimeSourceMatches(b.dir, /^\s*(readonly\s+)?interceptors\?:/m),
  },
  { feature: "tsgrid/otel", rows: ["tsgrid.otel"], has: (b) => b.oldSubpaths.has("./otel") },
  { feature: "tsgrid/metrics", rows: ["tsgrid.metrics.", "tsgrid.otel-metrics."], has: (b) => b.oldSubpaths.has("./metrics") },
  {
    feature: "maskFrames (a Manager option)",
    rows: ["tsgrid.nomask."],
    has: (b) => runtimeSourceMatches(b.dir, /^\s*(readonly\s+)?maskFrames\?:/m),
  },
];

/** Why `rowId` is not measured in the baseline, if it is not. */
export function baselineUnavailable(b: Pick<PreparedBaseline, "unavailable">, rowId: string): string | undefined {
  return b.unavailable.find((u) => rowId.startsWith(u.prefix))?.why;
}

/** Rows measured before and after: the tsgrid rows and the generated codec. */
export function comparedInBaseline(row: { id: string; group: string }): boolean {
  return row.group === "tsgrid" || row.id === "codec.generated";
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, input?: Buffer): SpawnSyncReturns<Buffer> {
  const r = spawnSync(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 256 * 2 ** 20, ...(input ? { input } : {}) });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  return r;
}

function mustRun(cmd: string, args: string[], cwd: string, timeoutMs: number, input?: Buffer): Buffer {
  const r = run(cmd, args, cwd, timeoutMs, input);
  if (r.status !== 0) {
    const err = r.stderr.toString().trim() || r.stdout.toString().trim();
    throw new Error(`baseline: \`${cmd} ${args.join(" ")}\` in ${cwd} failed (exit ${r.status}): ${err.split("\n").slice(-5).join(" | ")}`);
  }
  return r.stdout;
}

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}
const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/** Dependencies the ref pins that the current node_modules lacks at that exact version. */
export function depsMismatch(oldPkg: PackageJson, installedVersion: (name: string) => string | undefined): string[] {
  const wanted = { ...oldPkg.dependencies, ...oldPkg.devDependencies };
  return Object.entries(wanted)
    .filter(([name, version]) => installedVersion(name) !== version)
    .map(([name, version]) => `${name}@${version}`);
}

function installedVersion(repoRoot: string, name: string): string | undefined {
  const p = join(repoRoot, "node_modules", name, "package.json");
  return existsSync(p) ? readJson<{ version: string }>(p).version : undefined;
}

const log = (msg: string): void => console.log(`baseline: ${msg}`);

/**
 * Makes `dir` a baseline of `ref` (extracting, installing and building what is not done yet),
 * then copies the current bench/ into it and builds it there. Throws with the failing step.
 */
export async function prepareBaseline(repoRoot: string, ref: string | undefined, dir: string): Promise<PreparedBaseline> {
  dir = resolve(dir);
  const stampPath = join(dir, STAMP);
  let stamp = existsSync(stampPath) ? readJson<BaselineStamp>(stampPath) : undefined;
  if (ref === undefined) {
    if (stamp === undefined) throw new Error(`baseline: ${dir} is not a prepared baseline (no ${STAMP}); give --baseline <git-ref>`);
    ref = stamp.ref;
  }
  const commit = mustRun("git", ["rev-parse", "--verify", `${ref}^{commit}`], repoRoot, GIT_TIMEOUT_MS).toString().trim();
  if (stamp !== undefined && stamp.commit !== commit) {
    throw new Error(`baseline: ${dir} holds ${stamp.ref} (${stamp.commit.slice(0, 9)}), not ${ref} (${commit.slice(0, 9)}); remove it or pick another --baseline-dir`);
  }
  const save = (s: BaselineStamp): void => {
    writeFileSync(stampPath, JSON.stringify(s, null, 2) + "\n");
    stamp = s;
  };

  // 1. The ref's files.
  if (stamp === undefined) {
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`baseline: ${dir} exists, is not empty and is not a baseline; refusing to touch it`);
    mkdirSync(dir, { recursive: true });
    log(`extracting ${ref} (${commit.slice(0, 9)}) into ${dir}`);
    const tar = mustRun("git", ["archive", "--format=tar", commit], repoRoot, GIT_TIMEOUT_MS);
    mustRun("tar", ["-x", "-C", dir], dir, GIT_TIMEOUT_MS, tar);
    save({ ref, commit, deps: "linked", stage: "extracted" });
  }
  // A linked baseline follows the checkout that runs it (a baseline prepared from a helper's
  // work tree serves main): re-link, or install its own when the versions no longer match.
  if (stamp!.stage !== "extracted" && stamp!.deps === "linked") {
    const link = join(dir, "node_modules");
    const target = join(repoRoot, "node_modules");
    const current = existsSync(link) ? realpathSync(link) : undefined;
    if (current !== realpathSync(target)) {
      const mismatch = depsMismatch(readJson<PackageJson>(join(dir, "package.json")), (name) => installedVersion(repoRoot, name));
      if (mismatch.length === 0) {
        rmSync(link, { recursive: true, force: true });
        symlinkSync(target, link, "dir");
        log(`node_modules re-linked to ${target}`);
      } else {
        save({ ...stamp!, stage: "extracted" });
      }
    }
  }
  // 2. Its dependencies: the current ones when they match exactly, else its own lock file.
  if (stamp!.stage === "extracted") {
    const oldPkg = readJson<PackageJson>(join(dir, "package.json"));
    const mismatch = depsMismatch(oldPkg, (name) => installedVersion(repoRoot, name));
    rmSync(join(dir, "node_modules"), { recursive: true, force: true });
    if (mismatch.length === 0) {
      log(`linking node_modules to ${join(repoRoot, "node_modules")} (every pinned version matches)`);
      symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
      save({ ...stamp!, deps: "linked", stage: "deps" });
    } else {
      log(`npm ci (the ref pins ${mismatch.slice(0, 5).join(", ")}${mismatch.length > 5 ? "..." : ""})`);
      mustRun("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], dir, INSTALL_TIMEOUT_MS);
      // The harness's own packages (OpenTelemetry, prom-client...) at the current versions.
      const cur = readJson<PackageJson>(join(repoRoot, "package.json"));
      const extra = Object.entries({ ...cur.dependencies, ...cur.devDependencies })
        .filter(([name]) => !existsSync(join(dir, "node_modules", name, "package.json")))
        .map(([name, version]) => `${name}@${version}`);
      if (extra.length > 0) mustRun("npm", ["install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", ...extra], dir, INSTALL_TIMEOUT_MS);
      save({ ...stamp!, deps: "npm ci", stage: "deps" });
    }
  }
  // 3. Its runtime and gridgen, with its own compiler settings.
  if (stamp!.stage === "deps") {
    log("building its runtime and gridgen");
    writeFileSync(
      join(dir, "tsconfig.baseline.json"),
      JSON.stringify({ extends: "./tsconfig.build.json", include: ["runtime", "codegen"], exclude: ["node_modules", "dist", "**/*.test.ts"] }, null, 2) + "\n",
    );
    const r = run(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.baseline.json"], dir, BUILD_TIMEOUT_MS);
    if (!existsSync(join(dir, "dist", "runtime", "index.js")) || !existsSync(join(dir, "dist", "codegen", "cli.js"))) {
      throw new Error(`baseline: building ${ref} failed: ${r.stdout.toString().split("\n").slice(0, 5).join(" | ")}`);
    }
    save({ ...stamp!, stage: "built" });
  }
  return syncHarness(repoRoot, dir, stamp!);
}

/** Copies the current bench/ into the baseline, regenerates its typed code with the OLD gridgen, builds it. */
async function syncHarness(repoRoot: string, dir: string, stamp: BaselineStamp): Promise<PreparedBaseline> {
  const notes: string[] = [];
  const benchDir = join(dir, "bench");
  rmSync(benchDir, { recursive: true, force: true });
  rmSync(join(dir, "dist", "bench"), { recursive: true, force: true });
  const skip = new Set(["results", ".baseline", "generated", "node_modules"].map((d) => join(repoRoot, "bench", d)));
  // Entry by entry: the default baseline dir is under bench/ (.baseline), and cpSync refuses to
  // copy a directory into a subdirectory of itself before it applies any filter (EINVAL).
  mkdirSync(benchDir, { recursive: true });
  for (const entry of readdirSync(join(repoRoot, "bench"))) {
    const src = join(repoRoot, "bench", entry);
    if (!skip.has(src)) cpSync(src, join(benchDir, entry), { recursive: true });
  }
  mkdirSync(join(benchDir, "generated"), { recursive: true });
  const gen = run(process.execPath, [join(dir, "bin", "gridgen.js"), "bench/schemas", "-o", "bench/generated"], dir, BUILD_TIMEOUT_MS);
  if (gen.status !== 0) {
    // Its gridgen cannot read the current schema: the typed rows run the current generated
    // code against the old runtime, which is not a before/after of the typed path.
    cpSync(join(repoRoot, "bench", "generated"), join(benchDir, "generated"), { recursive: true });
    notes.push(`its gridgen failed on bench/schemas (${gen.stderr.toString().trim().split("\n")[0]}): typed rows not compared`);
  }
  log(`building the current bench/ against ${stamp.ref}'s runtime`);
  const tsc = run(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", "bench/tsconfig.json"], dir, BUILD_TIMEOUT_MS);
  const typeErrors = tsc.stdout
    .toString()
    .split("\n")
    .filter((l) => /error TS\d+/.test(l));
  if (!existsSync(join(dir, "dist", "bench", "client.js"))) {
    throw new Error(`baseline: the bench did not build against ${stamp.ref}: ${typeErrors.slice(0, 3).join(" | ")}`);
  }
  const shim = await writeShims(repoRoot, dir, stamp.ref);
  const unavailable: PreparedBaseline["unavailable"] = [];
  for (const probe of BASELINE_FEATURES) {
    if (probe.has({ dir, oldExports: shim.oldExports, oldSubpaths: shim.oldSubpaths })) continue;
    for (const prefix of probe.rows) unavailable.push({ prefix, why: `${NA_IN_BASELINE}: ${stamp.ref} has no ${probe.feature}` });
  }
  if (gen.status !== 0) unavailable.push({ prefix: "tsgrid.typed", why: `${NA_IN_BASELINE}: ${stamp.ref}'s gridgen cannot read bench/schemas` });
  return {
    ref: stamp.ref,
    commit: stamp.commit,
    dir,
    distBench: join(dir, "dist", "bench"),
    deps: stamp.deps,
    unavailable,
    stubbed: shim.stubbed,
    typeErrors: typeErrors.slice(0, 20),
    notes: [...notes, ...shim.notes],
  };
}

/** The `default` file of a package.json export entry. */
function exportTarget(entry: string | Record<string, string> | undefined): string | undefined {
  if (entry === undefined) return undefined;
  return typeof entry === "string" ? entry : entry["default"];
}

/** The source of one shim module: the old module's exports, then a stub per missing name. */
export function shimSource(opts: {
  ref: string;
  subpath: string;
  /** Import specifier of the old module (relative to the shim), or undefined when it has none. */
  oldModule: string | undefined;
  missing: { name: string; kind: "function" | "value" }[];
}): string {
  const label = opts.subpath === "." ? "tsgrid" : `tsgrid/${opts.subpath.replace(/^\.\//, "")}`;
  const lines = [
    `// Generated by bench/lib/baseline.ts: ${label} as the baseline ${opts.ref} has it, plus stubs for what it lacks.`,
    ...(opts.oldModule !== undefined ? [`export * from ${JSON.stringify(opts.oldModule)};`] : []),
    `const why = (name) => ${JSON.stringify(`${NA_IN_BASELINE}: ${opts.ref} has no `)} + name + ${JSON.stringify(` (${label})`)};`,
    "const fn = (name) => new Proxy(function () {}, { apply() { throw new Error(why(name)); }, construct() { throw new Error(why(name)); } });",
    "const value = (name) => new Proxy({}, { get(_, key) { if (key === 'then' || typeof key === 'symbol' && key !== Symbol.toPrimitive) return undefined; throw new Error(why(name)); } });",
  ];
  for (const m of opts.missing) {
    const fallback = BASELINE_FALLBACKS[m.name];
    if (fallback !== undefined) lines.push(`export const ${m.name} = ${fallback.value}; // ${fallback.why}`);
    else lines.push(`export const ${m.name} = ${m.kind === "function" ? "fn" : "value"}(${JSON.stringify(m.name)});`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Points the baseline package's entry points at shims (dist/baseline-shim/) and writes them.
 * Returns the old runtime's export names per entry point and the names stubbed.
 */
async function writeShims(
  repoRoot: string,
  dir: string,
  ref: string,
): Promise<{ oldExports: Record<string, Set<string>>; oldSubpaths: Set<string>; stubbed: Record<string, string[]>; notes: string[] }> {
  const notes: string[] = [];
  const cur = readJson<PackageJson>(join(repoRoot, "package.json"));
  const pkgPath = join(dir, "package.json");
  const origPath = join(dir, "package.baseline-original.json");
  if (!existsSync(origPath)) cpSync(pkgPath, origPath);
  const old = readJson<PackageJson>(origPath);
  const oldSubpaths = new Set(Object.keys(old.exports ?? {}));
  const shimDir = join(dir, "dist", "baseline-shim");
  mkdirSync(shimDir, { recursive: true });
  const oldExports: Record<string, Set<string>> = {};
  const stubbed: Record<string, string[]> = {};
  const exportsMap: Record<string, string | Record<string, string>> = { ...(old.exports ?? {}) };
  for (const [subpath, entry] of Object.entries(cur.exports ?? {})) {
    const curTarget = exportTarget(entry);
    if (subpath === "./package.json" || curTarget === undefined || !curTarget.endsWith(".js")) continue;
    const curNames = await moduleExports(join(repoRoot, curTarget));
    if (curNames === undefined) {
      notes.push(`${subpath}: the current module ${curTarget} is not built; not shimmed`);
      continue;
    }
    const oldTarget = exportTarget(old.exports?.[subpath]);
    const oldFile = oldTarget !== undefined ? join(dir, oldTarget) : undefined;
    const oldNames = oldFile !== undefined ? await moduleExports(oldFile) : undefined;
    if (oldNames !== undefined) oldExports[subpath] = new Set(oldNames.keys());
    const missing = [...curNames]
      .filter(([name]) => name !== "default" && !oldNames?.has(name))
      .map(([name, kind]) => ({ name, kind }));
    stubbed[subpath] = missing.filter((m) => BASELINE_FALLBACKS[m.name] === undefined).map((m) => m.name);
    for (const m of missing) {
      const fallback = BASELINE_FALLBACKS[m.name];
      if (fallback !== undefined) notes.push(`${m.name} is ${fallback.value} in the baseline: ${fallback.why}`);
    }
    const shimFile = join(shimDir, `${subpath === "." ? "index" : subpath.replace(/^\.\//, "").replace(/\//g, "-")}.js`);
    const rel = oldFile !== undefined && oldNames !== undefined ? relative(dirname(shimFile), oldFile).replace(/\\/g, "/") : undefined;
    writeFileSync(shimFile, shimSource({ ref, subpath, oldModule: rel === undefined ? undefined : rel.startsWith(".") ? rel : `./${rel}`, missing }));
    const prev = old.exports?.[subpath];
    const conditions = typeof prev === "object" ? { ...prev } : {};
    delete conditions["default"];
    exportsMap[subpath] = { ...conditions, default: `./${relative(dir, shimFile).replace(/\\/g, "/")}` };
  }
  writeFileSync(pkgPath, JSON.stringify({ ...readJson<Record<string, unknown>>(origPath), exports: exportsMap }, null, 2) + "\n");
  return { oldExports, oldSubpaths, stubbed, notes };
}

/** A built module's export names and whether each is a function; undefined when it cannot be loaded. */
async function moduleExports(file: string): Promise<Map<string, "function" | "value"> | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    return new Map(Object.keys(mod).map((k) => [k, typeof mod[k] === "function" ? "function" : "value"] as const));
  } catch {
    return undefined;
  }
}

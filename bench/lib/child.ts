/**
 * Spawning and always reaping the benchmark's child processes. Each child is pinned to one
 * core with `taskset` when it exists (server on one core, client on the other), and every
 * child is killed on exit, error and SIGINT/SIGTERM so a run never leaves processes behind.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { SlowError } from "./verdict.js";

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

let tasksetChecked: boolean | undefined;
/** True when `taskset` works here and there are at least two cores to pin to. */
export function canPin(): boolean {
  if (tasksetChecked === undefined) {
    const ok = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0;
    tasksetChecked = ok && cpus().length >= 2;
  }
  return tasksetChecked;
}

export interface SpawnOptions {
  /** Core to pin to (when pinning is possible); undefined: not pinned. */
  core?: number;
  /** Extra node flags, e.g. --expose-gc, --cpu-prof. */
  nodeArgs?: string[];
  args?: string[];
  /** Scheduling priority adjustment (`nice -n`), e.g. -10 on a busy shared machine (needs root). */
  nice?: number;
}

/** Spawns `node <script>` with an IPC channel; stdout/stderr go to ours. */
export function spawnNode(script: string, opts: SpawnOptions = {}): ChildProcess {
  installHooks();
  const nodeArgv = [...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])];
  const pin = opts.core !== undefined && canPin();
  // Both wrappers exec the next program, so the child's pid (and IPC channel) is node's.
  let argv = [process.execPath, ...nodeArgv];
  if (pin) argv = ["taskset", "-c", String(opts.core), ...argv];
  if (opts.nice !== undefined && opts.nice !== 0) argv = ["nice", "-n", String(opts.nice), ...argv];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  // IPC write errors (EPIPE when the child died first) surface as 'error'; its exit is what
  // the waiting code reacts to, so the error itself is dropped rather than crashing the run.
  child.on("error", () => {});
  return child;
}

/**
 * Waits for the next IPC message accepted by `pick` (which may throw to fail the wait), failing
 * on exit (a crash: broken) or after `timeoutMs` (a SlowError: the child may just be slow).
 */
export function nextMessage<T>(
  child: ChildProcess,
  pick: (msg: unknown) => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (msg: unknown): void => {
      let v: T | undefined;
      try {
        v = pick(msg);
      } catch (err) {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (v === undefined) return;
      done();
      resolve(v);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`${what}: child exited (code ${code}, signal ${signal})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new SlowError(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Asks a child to stop, then kills it if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    if (child.connected) child.send({ type: "stop" });
  } catch {
    // channel already closed: the kill below handles it
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

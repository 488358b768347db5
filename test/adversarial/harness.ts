/**
 * The adversarial harness: a target Manager in a child process (fixtures/target.ts), probes
 * (legitimate Managers that keep calling it and measure latency) and names for evil peers.
 * Everything is bounded in time; `Target.close` kills the child whatever state it is in.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { Manager, type ManagerOptions } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import { Handlers } from "./handlers.js";

export { Handlers };

const registerTs = fileURLToPath(new URL("../cluster/fixtures/register-ts.mjs", import.meta.url));
const targetFile = fileURLToPath(new URL("./fixtures/target.ts", import.meta.url));

export const SECRET = "adversarial-test-secret";
const MiB = 1024 * 1024;

export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

export interface Memory {
  /** Resident set size now (after a full GC). */
  rss: number;
  /** V8 heap in use after a full GC. */
  heapUsed: number;
  external: number;
  /** Peak RSS of the process so far. */
  maxRss: number;
  /** Longest event-loop delay of the target since the previous `mem()`, ms (its own measure). */
  loopMaxMs: number;
}

export interface Target {
  url: string;
  /** Every state change of the target's connections, in order. */
  states: { peer: string; state: string }[];
  child: ChildProcess;
  logs: LogLine[];
  /** Names in the target's hosts that dial it (so they may connect as legitimate or evil peers). */
  probeName(i: number): string;
  evilName(i: number): string;
  /** Memory after a full GC; rejects if the target does not answer within `timeoutMs`. */
  mem(timeoutMs?: number): Promise<Memory>;
  /** Blocks the target's event loop for `ms` (Atomics.wait). */
  stall(ms: number): Promise<void>;
  peers(timeoutMs?: number): Promise<{ peers: Record<string, { state: string }>; stalls: number }>;
  /** The child is still running. */
  alive(): boolean;
  /** Resolves with the exit code or signal once the child is gone. */
  exited: Promise<number | string>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `count` names `ws://127.0.0.1:9/<prefix>-...` that dial `target` (the target never dials them). */
export function diallingNames(target: string, prefix: string, count: number): string[] {
  const names: string[] = [];
  for (let k = 0; names.length < count; k++) {
    const name = `ws://127.0.0.1:9/${prefix}-${k}`;
    if (shouldDial(name, target)) names.push(name);
  }
  return names;
}

export interface TargetOptions {
  /** Manager options of the target (numbers and booleans: they travel as JSON). */
  options?: Partial<ManagerOptions>;
  stallOnConnectMs?: number;
  probes?: number;
  evils?: number;
  /** Heap limit of the target, MiB (default 512: a runaway fails fast instead of swapping). */
  maxOldSpaceMiB?: number;
  /** Port to listen on (default: a free one); the same port again restarts "the same" server. */
  port?: number;
  /**
   * Run the node as a dialler instead: named `as`, it dials `peer` (which must be the side
   * that waits: see `diallingNames`) and does not listen.
   */
  dial?: { as: string; peer: string };
}

/**
 * Starts a target. A child that does not even get ready (seen twice in many runs on a
 * machine at load 25: a child stuck before its first line of our code) is killed and
 * started again once; startup is not what these tests are about.
 */
export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  try {
    return await startTargetOnce(opts, 30_000);
  } catch (err) {
    if (!/not ready within/.test((err as Error).message)) throw err;
    return await startTargetOnce(opts, 30_000);
  }
}

async function startTargetOnce(opts: TargetOptions, readyTimeoutMs: number): Promise<Target> {
  const url = opts.dial?.as ?? `ws://127.0.0.1:${opts.port ?? (await freePort())}/grid`;
  const probes = opts.dial === undefined ? diallingNames(url, "probe", opts.probes ?? 6) : [];
  const evils = opts.dial === undefined ? diallingNames(url, "evil", opts.evils ?? 6) : [];
  const config = {
    local: url,
    hosts: [url, ...probes, ...evils, ...(opts.dial === undefined ? [] : [opts.dial.peer])],
    secret: SECRET,
    options: opts.options,
    stallOnConnectMs: opts.stallOnConnectMs,
    listen: opts.dial === undefined,
  };
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${opts.maxOldSpaceMiB ?? 512}`, "--expose-gc", "--import", registerTs, targetFile, JSON.stringify(config)],
    { stdio: ["ignore", "ignore", "inherit", "ipc"] },
  );
  const logs: LogLine[] = [];
  const states: { peer: string; state: string }[] = [];
  const pending = new Map<number, (msg: Record<string, unknown>) => void>();
  let nextId = 1;
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  child.on("message", (msg: Record<string, unknown>) => {
    if (msg.ready === true) ready();
    else if (msg.log !== undefined) logs.push(msg.log as LogLine);
    else if (msg.state !== undefined) states.push(msg.state as { peer: string; state: string });
    else if (typeof msg.id === "number") {
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    }
  });
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  const ask = (cmd: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error("target is gone"));
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`target did not answer ${String(cmd.cmd)} within ${timeoutMs} ms (event loop blocked?)`));
      }, timeoutMs);
      pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      child.send({ ...cmd, id });
    });
  let readyTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    readyPromise,
    exited.then((code) => Promise.reject(new Error(`target exited (${code}) before it was ready`))),
    new Promise((_, reject) => {
      readyTimer = setTimeout(() => reject(new Error(`target not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    }),
  ])
    .catch((err: unknown) => {
      child.kill("SIGKILL");
      throw err;
    })
    .finally(() => clearTimeout(readyTimer));
  if (opts.dial !== undefined) child.send({ cmd: "start" });
  return {
    url,
    states,
    child,
    logs,
    probeName: (i) => probes[i]!,
    evilName: (i) => evils[i]!,
    mem: async (timeoutMs = 5000) => (await ask({ cmd: "mem" }, timeoutMs)).mem as Memory,
    stall: async (ms) => void (await ask({ cmd: "stall", ms }, ms + 5000)),
    peers: async (timeoutMs = 5000) => (await ask({ cmd: "peers" }, timeoutMs)) as never,
    alive: () => child.exitCode === null && child.signalCode === null,
    exited,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

export interface ProbeStats {
  ok: number;
  failed: number;
  errors: string[];
  p50: number;
  p99: number;
  max: number;
}

export interface Probe {
  manager: Manager;
  /** Time from construction to connected, ms. */
  connectMs: number;
  /** Starts calling the target's echo every `intervalMs` until `stop`. */
  start(intervalMs?: number): void;
  stop(): Promise<ProbeStats>;
  /** One echo call; rejects on failure. */
  call(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/**
 * A legitimate peer: a Manager named `target.probeName(i)` that dials the target. Resolves
 * once connected (rejects after `connectTimeoutMs`).
 */
export async function startProbe(target: Target, i: number, connectTimeoutMs = 15_000, options: Partial<ManagerOptions> = {}): Promise<Probe> {
  const name = target.probeName(i);
  const t0 = performance.now();
  const manager = new Manager({
    ...options,
    local: name,
    hosts: [target.url, name],
    auth: sharedSecretAuth(SECRET),
    logger: silentLogger,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  const conn = manager.connection(target.url);
  try {
    await conn.waitConnected({ signal: AbortSignal.timeout(connectTimeoutMs) });
  } catch (err) {
    await manager.close();
    throw new Error(`probe ${i} could not connect within ${connectTimeoutMs} ms: ${(err as Error).message}`);
  }
  const connectMs = performance.now() - t0;
  const payload = new Uint8Array(32).fill(1);
  // Generous: the tests share a loaded machine; a wedged target misses any of these by far.
  const call = async (timeoutMs = 5000): Promise<number> => {
    const t = performance.now();
    const answer = await conn.request(Handlers.Echo, payload, { timeoutMs });
    if (answer.byteLength !== payload.byteLength) throw new Error("wrong echo");
    return performance.now() - t;
  };
  let running = false;
  let loop: Promise<void> | undefined;
  const latencies: number[] = [];
  const errors: string[] = [];
  return {
    manager,
    connectMs,
    call,
    start(intervalMs = 10) {
      running = true;
      loop = (async () => {
        while (running) {
          try {
            latencies.push(await call());
          } catch (err) {
            errors.push((err as Error).message);
          }
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        ok: latencies.length,
        failed: errors.length,
        errors: [...new Set(errors)].slice(0, 5),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1] ?? NaN,
      };
    },
    close: () => manager.close(),
  };
}

/** A legitimate peer connects, makes one call and leaves; resolves with its connect time in ms. */
export async function freshPeerConnects(target: Target, i: number): Promise<number> {
  const probe = await startProbe(target, i);
  try {
    await probe.call();
    return probe.connectMs;
  } finally {
    await probe.close();
  }
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** One line for the test output: what the attack cost the target. */
export function report(name: string, stats: ProbeStats, before: Memory, after: Memory, extra = ""): string {
  const line =
    `[adversarial] ${name}: probe ok ${stats.ok} failed ${stats.failed} p50 ${stats.p50.toFixed(1)} ms ` +
    `p99 ${stats.p99.toFixed(1)} ms max ${stats.max.toFixed(1)} ms; target rss ${fmtMiB(before.rss)} -> ${fmtMiB(after.rss)} ` +
    `(peak ${fmtMiB(after.maxRss)}), heap ${fmtMiB(before.heapUsed)} -> ${fmtMiB(after.heapUsed)}, ` +
    `target loop delay max ${after.loopMaxMs.toFixed(0)} ms${extra ? `; ${extra}` : ""}`;
  console.log(line);
  return line;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` holds; rejects after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(10);
  }
}

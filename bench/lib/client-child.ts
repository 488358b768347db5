/**
 * The child side of a client process: receives a scenario, runs its warm-up and measured
 * phases, and reports throughput, latency, CPU (its own and the server's) and peak RSS.
 */
import { performance } from "node:perf_hooks";
import { PROGRESS_INTERVAL_MS, usageNow, type ClientResult, type FromClient, type ScenarioSpec, type ToClient, type Usage } from "./ipc.js";
import { Phase, type Driver } from "./phase.js";
import { failureKind } from "./verdict.js";

export interface ClientContext {
  spec: ScenarioSpec;
  port: number;
  serverInfo: Record<string, unknown> | undefined;
  /** The server's usage, via the orchestrator; undefined when the scenario has no server. */
  serverUsage(gc?: boolean): Promise<Usage | undefined>;
  num(name: string, fallback?: number): number;
  str(name: string, fallback?: string): string;
}

/** What a client module does: set up, return a driver (and teardown), or measure by itself. */
export interface ClientSetup {
  driver?: Driver;
  /** For scenarios that are not a throughput loop (memory rows): returns the whole result. */
  custom?: () => Promise<CustomResult>;
  close(): Promise<void> | void;
  /** Extra numbers added to the result after the measured phase. */
  extra?: () => Record<string, number | string | boolean>;
}

/** A custom scenario's result: its own CPU accounting (if any) replaces the phase's. */
export type CustomResult = Omit<ClientResult, "client" | "server"> & { server?: ClientResult["server"]; clientCpuUs?: number };

export type ClientModule = (ctx: ClientContext) => Promise<ClientSetup>;

function send(msg: FromClient): void {
  if (process.connected) process.send?.(msg);
}

export function runClientChild(modules: Record<string, ClientModule>): void {
  let nextId = 1;
  const waiting = new Map<number, (u: Usage) => void>();
  process.on("disconnect", () => process.exit(0));
  // The orchestrator may be gone before this module loaded: then "disconnect" never fires.
  if (!process.connected) process.exit(0);
  process.on("message", (raw: unknown) => {
    const msg = raw as ToClient;
    if (msg.type === "server-usage") {
      waiting.get(msg.id)?.(msg.usage);
      waiting.delete(msg.id);
    } else if (msg.type === "run") {
      run(msg.scenario, msg.port, msg.serverInfo).then(
        (result) => {
          send({ type: "result", result });
          setTimeout(() => process.exit(0), 50).unref();
        },
        (err: unknown) => {
          send({ type: "error", message: String((err as Error)?.stack ?? err), slow: failureKind(err) === "slow" });
          setTimeout(() => process.exit(1), 50).unref();
        },
      );
    }
  });

  async function run(spec: ScenarioSpec, port: number, serverInfo: Record<string, unknown> | undefined): Promise<ClientResult> {
    const module = modules[spec.client];
    if (module === undefined) throw new Error(`unknown client module ${spec.client}`);
    const hasServer = port > 0;
    const ctx: ClientContext = {
      spec,
      port,
      serverInfo,
      serverUsage: (gc = false) => {
        if (!hasServer) return Promise.resolve(undefined);
        const id = nextId++;
        return new Promise<Usage>((resolve) => {
          waiting.set(id, resolve);
          send({ type: "server-usage", id, gc });
        });
      },
      num: (name, fallback) => {
        const v = spec.params[name] ?? fallback;
        if (typeof v !== "number") throw new Error(`${spec.id}: parameter ${name} must be a number`);
        return v;
      },
      str: (name, fallback) => {
        const v = spec.params[name] ?? fallback;
        if (typeof v !== "string") throw new Error(`${spec.id}: parameter ${name} must be a string`);
        return v;
      },
    };
    const setup = await module(ctx);
    let progress: ReturnType<typeof setInterval> | undefined;
    try {
      if (setup.custom !== undefined) {
        const r = await setup.custom();
        const me = usageNow();
        return { ...r, client: { cpuUs: r.clientCpuUs ?? 0, maxRss: me.maxRss }, server: r.server };
      }
      const driver = setup.driver;
      if (driver === undefined) throw new Error(`${spec.id}: client module returned no driver`);
      // Progress reports let the orchestrator tell a slow row from one making no progress at all.
      let phaseNow: Phase | undefined;
      let opsBefore = 0;
      progress = setInterval(() => send({ type: "progress", ops: opsBefore + (phaseNow?.ops ?? 0) }), PROGRESS_INTERVAL_MS);
      progress.unref();
      if (spec.warmupMs > 0) {
        await driver((phaseNow = new Phase(spec.warmupMs, spec.maxOps)));
        opsBefore = phaseNow.ops;
        // A row whose calls run much more code than the plain ones (tsgrid/otel: the SDK) asks
        // for a number of warm-up operations too (`warmupOps`, within `warmupExtraMs` more):
        // at a few thousand calls a second on a busy machine, 300 ms leave its code cold and
        // the measured second pays V8's compilation (CPU per call 5-10x the warm figure).
        const warmupOps = ctx.num("warmupOps", 0);
        if (opsBefore < warmupOps) {
          await driver((phaseNow = new Phase(ctx.num("warmupExtraMs", 0), warmupOps - opsBefore)));
          opsBefore += phaseNow.ops;
        }
      }
      const s0 = await ctx.serverUsage();
      const c0 = usageNow();
      const t0 = performance.now();
      const phase = (phaseNow = new Phase(spec.durationMs, spec.maxOps));
      await driver(phase);
      const elapsedMs = performance.now() - t0;
      const c1 = usageNow();
      const s1 = await ctx.serverUsage();
      return {
        ops: phase.ops,
        elapsedMs,
        latency: phase.hist.count > 0 ? phase.hist.summary() : undefined,
        client: { cpuUs: cpuOf(c1) - cpuOf(c0), maxRss: c1.maxRss },
        server: s0 && s1 ? { cpuUs: cpuOf(s1) - cpuOf(s0), maxRss: s1.maxRss } : undefined,
        ...(setup.extra ? { extra: setup.extra() } : {}),
      };
    } finally {
      clearInterval(progress);
      await setup.close();
    }
  }
}

const cpuOf = (u: Usage): number => u.userUs + u.systemUs;

/**
 * One cluster node of the namespace tests, run inside a host's namespace:
 *   ip netns exec <ns> node --import ../cluster/fixtures/register-ts.mjs node.ts '<json Config>'
 *
 * The test (in the root namespace, which has no route to the hosts) drives it over stdio:
 * one JSON command per stdin line, one JSON event or reply per stdout line. Every timestamp is
 * `Date.now()`: all the processes share the machine's clock, so the test can compare them.
 *
 * Handlers: 1 answers "<local>:<payload>" (a wrong or duplicated answer shows), 2 never
 * answers, 3 is a bidi echo stream that reports on stdout when it ends and why.
 */
import { createInterface } from "node:readline";
import { Manager } from "../../runtime/cluster/manager.js";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { GridError } from "../../runtime/errors.js";
import type { Logger } from "../../runtime/types.js";

export interface NodeConfig {
  local: string;
  hosts: string[];
  secret: string;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  dialTimeoutMs: number;
  reconnectMaxMs: number;
}

/** Commands from the test. Each has an id; the reply carries it. */
export type NodeCommand =
  | { op: "call"; id: number; to: string; payload: string; timeoutMs: number }
  /** Echo calls to `to`, `concurrency` at a time, until `loadStop`. */
  | { op: "loadStart"; id: number; to: string[]; concurrency: number; timeoutMs: number }
  | { op: "loadStop"; id: number }
  /** Opens a bidi stream to `to` and sends a message every `everyMs` until it fails. */
  | { op: "stream"; id: number; to: string; everyMs: number }
  | { op: "exit"; id: number };

export interface LoadStats {
  succeeded: number;
  failed: Record<string, number>;
  /** Answers that were not "<to>:<payload>" of this very call. */
  wrong: number;
  /** Calls that did not settle within their deadline plus 2 s (hung). */
  hung: number;
  /** Slowest failure, ms. */
  maxFailMs: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as NodeConfig;
const out = (msg: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ t: Date.now(), ...msg })}\n`);
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => out({ event: "log", level: "warn", message, fields: plain(fields) }),
  error: (message, fields) => out({ event: "log", level: "error", message, fields: plain(fields) }),
};
function plain(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields ?? {})) o[k] = v instanceof Error ? v.message : v;
  return o;
}

const manager = new Manager({
  local: config.local,
  hosts: config.hosts,
  auth: sharedSecretAuth(config.secret),
  logger,
  pingIntervalMs: config.pingIntervalMs,
  pingTimeoutMs: config.pingTimeoutMs,
  dialTimeoutMs: config.dialTimeoutMs,
  reconnect: { initialDelayMs: 50, maxDelayMs: config.reconnectMaxMs },
});
const enc = new TextEncoder();
const dec = new TextDecoder();
const served = new Set<string>();
let duplicates = 0;
manager.registerSingle(1, (payload, ctx) => {
  const text = dec.decode(payload);
  if (served.has(text)) duplicates++;
  served.add(text);
  if (served.size > 200_000) served.clear(); // bounded
  return enc.encode(`${config.local}:${text}@${ctx.caller}`);
});
manager.registerSingle(2, () => new Promise<Uint8Array>(() => {}));
manager.registerStream(
  3,
  async function* (_payload, input, ctx) {
    const start = Date.now();
    try {
      for await (const msg of input!) yield msg;
      out({ event: "serverStreamEnd", caller: ctx.caller, ok: true, ms: Date.now() - start });
    } catch (err) {
      out({ event: "serverStreamEnd", caller: ctx.caller, ok: false, error: describe(err) });
      throw err;
    } finally {
      if (ctx.signal.aborted) out({ event: "serverStreamAborted", caller: ctx.caller, error: describe(ctx.signal.reason) });
    }
  },
  { inCapacity: 8 },
);
manager.onStateChange((peer, state) => out({ event: "state", peer, state }));
await manager.listen();

function describe(err: unknown): string {
  if (err instanceof GridError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
function code(err: unknown): string {
  return err instanceof GridError ? err.code : "other";
}

let seq = 0;
/** One echo call, checked: resolves with what happened, never rejects. */
async function echo(to: string, timeoutMs: number, stats: LoadStats): Promise<void> {
  const payload = `${config.local}#${++seq}`;
  const start = Date.now();
  let settled = false;
  const hang = setTimeout(() => {
    if (!settled) stats.hung++;
  }, timeoutMs + 2_000);
  try {
    const answer = dec.decode(await manager.connection(to).request(1, enc.encode(payload), { timeoutMs }));
    if (answer === `${to}:${payload}@${config.local}`) stats.succeeded++;
    else stats.wrong++;
  } catch (err) {
    const c = code(err);
    stats.failed[c] = (stats.failed[c] ?? 0) + 1;
    stats.maxFailMs = Math.max(stats.maxFailMs, Date.now() - start);
  } finally {
    settled = true;
    clearTimeout(hang);
  }
}

const loads = new Map<number, { stop: boolean; stats: LoadStats; workers: Promise<void>[] }>();

async function handle(cmd: NodeCommand): Promise<void> {
  switch (cmd.op) {
    case "call": {
      const start = Date.now();
      try {
        const value = dec.decode(await manager.connection(cmd.to).request(1, enc.encode(cmd.payload), { timeoutMs: cmd.timeoutMs }));
        out({ id: cmd.id, ok: true, value, ms: Date.now() - start });
      } catch (err) {
        out({ id: cmd.id, ok: false, code: code(err), error: describe(err), ms: Date.now() - start });
      }
      return;
    }
    case "loadStart": {
      const load = { stop: false, stats: { succeeded: 0, failed: {}, wrong: 0, hung: 0, maxFailMs: 0 } as LoadStats, workers: [] as Promise<void>[] };
      loads.set(cmd.id, load);
      for (const to of cmd.to) {
        for (let w = 0; w < cmd.concurrency; w++) {
          load.workers.push(
            (async () => {
              // Bounded: stops on loadStop; a failing peer is retried every 20 ms, not in a spin.
              while (!load.stop) {
                const before = load.stats.succeeded;
                await echo(to, cmd.timeoutMs, load.stats);
                if (load.stats.succeeded === before) await new Promise((r) => setTimeout(r, 20));
              }
            })(),
          );
        }
      }
      out({ id: cmd.id, ok: true });
      return;
    }
    case "loadStop": {
      for (const [id, load] of loads) {
        load.stop = true;
        await Promise.all(load.workers);
        loads.delete(id);
        out({ id: cmd.id, ok: true, stats: load.stats, duplicates });
      }
      return;
    }
    case "stream": {
      const start = Date.now();
      let sent = 0;
      let echoed = 0;
      try {
        const stream = await manager.connection(cmd.to).newStream(3, undefined, {});
        out({ id: cmd.id, ok: true, opened: true });
        const reader = (async () => {
          for await (const _msg of stream.responses) echoed++;
        })();
        const writer = (async () => {
          for (let i = 0; i < 100_000; i++) {
            await stream.requests!.send(enc.encode(String(i)));
            sent++;
            await new Promise((r) => setTimeout(r, cmd.everyMs));
          }
        })();
        await Promise.all([reader, writer]);
        out({ event: "clientStreamEnd", to: cmd.to, ok: true, sent, echoed });
      } catch (err) {
        out({ event: "clientStreamEnd", to: cmd.to, ok: false, error: describe(err), sent, echoed, ms: Date.now() - start });
      }
      return;
    }
    case "exit":
      await manager.close();
      process.exit(0);
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "") return;
  void handle(JSON.parse(line) as NodeCommand);
});
process.stdin.on("end", () => void manager.close().then(() => process.exit(0)));
out({ event: "ready", instanceId: manager.instanceId });

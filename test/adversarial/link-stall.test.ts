/**
 * #9 item 7, dial and handshake timers: a process that stalls for 12 s (a synchronous job, a
 * GC pause) while handshakes are in flight must not drop them as timed out when the answer
 * is already waiting in the socket: its timers fire late and must let pending I/O be read
 * first (the stall rule, docs/operations.md#resource-model). Either side stalls, 10
 * handshakes each, all at once (so the test takes one stall, not ten). The ping timers'
 * stall test is test/adversarial's stall test of the mux level.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import type { ClusterAuth } from "../../runtime/auth/cluster-auth.js";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import { freePorts } from "../cluster/helpers.js";

const registerTs = fileURLToPath(new URL("../cluster/fixtures/register-ts.mjs", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/stall-link.ts", import.meta.url));
const SECRET = "stall-secret";
const STALL_MS = 12_000;
const REPETITIONS = 10;

interface Event {
  ready?: boolean;
  stalled?: number;
  state?: { who: string; peer: string; state: string; reason?: string };
  log?: { who: string; level: string; message: string; error: string };
}

interface Child {
  process: ChildProcess;
  events: Event[];
  waitFor(pred: (e: Event) => boolean, timeoutMs: number): Promise<Event>;
}

/** What one test started; each test cleans up its own (the two run concurrently). */
class Resources {
  readonly children: ChildProcess[] = [];
  readonly managers: Manager[] = [];
  async close(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    await Promise.all(this.managers.map((m) => m.close()));
  }
}

function start(res: Resources, config: Record<string, unknown>): Child {
  const child = spawn(process.execPath, ["--import", registerTs, fixture, JSON.stringify(config)], { stdio: ["ignore", "pipe", "inherit"] });
  res.children.push(child);
  const events: Event[] = [];
  let buffered = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      events.push(JSON.parse(buffered.slice(0, nl)) as Event);
      buffered = buffered.slice(nl + 1);
    }
  });
  const waitFor = async (pred: (e: Event) => boolean, timeoutMs: number): Promise<Event> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(pred);
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`stall fixture exited (${child.exitCode})`);
      if (Date.now() > until) throw new Error(`stall fixture: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { process: child, events, waitFor };
}

/** `count` names that dial `target`. */
function diallers(target: string, prefix: string, count: number): string[] {
  const names: string[] = [];
  for (let k = 0; names.length < count; k++) {
    const name = `ws://127.0.0.1:9/${prefix}-${k}`;
    if (shouldDial(name, target)) names.push(name);
  }
  return names;
}

/** Per peer, the states it went through, from a list of (peer, state, reason) events. */
function history(events: { peer: string; state: string; reason?: string }[]): Map<string, string[]> {
  const byPeer = new Map<string, string[]>();
  for (const e of events) byPeer.set(e.peer, [...(byPeer.get(e.peer) ?? []), e.reason ? `${e.state} (${e.reason})` : e.state]);
  return byPeer;
}

describe.concurrent("a 12 s stall with handshakes in flight never drops them", () => {
  it("on the dialling side: its dial and handshake timers are overdue, the answers wait in the socket", { timeout: 90_000 }, async () => {
    const res = new Resources();
    try {
      await dialSideStalls(res);
    } finally {
      await res.close();
    }
  });

  it("on the listening side: its first-message and handshake timers are overdue, the Connects wait in the socket", { timeout: 90_000 }, async () => {
    const res = new Resources();
    try {
      await listenSideStalls(res);
    } finally {
      await res.close();
    }
  });
});

async function dialSideStalls(res: Resources): Promise<void> {
  {
    const [port] = (await freePorts(1)) as [number];
    const listenerUrl = `ws://127.0.0.1:${port}/grid`;
    const names = diallers(listenerUrl, "stall-dialler", REPETITIONS);
    const listenerEvents: { peer: string; state: string; reason?: string }[] = [];
    const listener = new Manager({ local: listenerUrl, hosts: [listenerUrl, ...names], auth: sharedSecretAuth(SECRET), logger: silentLogger });
    res.managers.push(listener);
    listener.onStateChange((peer, state, _previous, reason) => listenerEvents.push({ peer, state, reason: reason?.message }));
    await listener.listen();
    const child = start(res, { mode: "dial", secret: SECRET, stallMs: STALL_MS, listener: listenerUrl, names });
    await child.waitFor((e) => e.ready === true, 40_000); // a child starts slowly on a loaded machine
    const stalled = await child.waitFor((e) => e.stalled !== undefined, STALL_MS + 15_000);
    expect(stalled.stalled).toBeGreaterThanOrEqual(STALL_MS - 50);
    // The listener answered during the stall: all 10 were connected on its side meanwhile.
    expect(listenerEvents.filter((e) => e.state === "connected")).toHaveLength(REPETITIONS);
    await new Promise((r) => setTimeout(r, 1500)); // the overdue timers have fired by now
    const childStates = history(child.events.flatMap((e) => (e.state ? [e.state] : [])).map((s) => ({ ...s, peer: s.who })));
    const failures = child.events.filter((e) => e.log !== undefined && e.log.level !== "info");
    console.log(
      `[adversarial] item 7 (dialler stalls ${STALL_MS} ms with ${REPETITIONS} dials in flight): ` +
        `dials failed ${[...childStates.values()].filter((h) => h.some((s) => s.startsWith("disconnected"))).length}/${REPETITIONS}, ` +
        `listener links lost ${listenerEvents.filter((e) => e.state === "disconnected").length}`,
    );
    expect(failures.map((e) => `${e.log!.message}: ${e.log!.error}`)).toEqual([]);
    for (const name of names) expect(childStates.get(name), name).toEqual(["connecting", "connected"]);
    expect(listenerEvents.filter((e) => e.state !== "connected").map((e) => e.reason)).toEqual([]);
  }
}

async function listenSideStalls(res: Resources): Promise<void> {
  {
    const [port] = (await freePorts(1)) as [number];
    const listenerUrl = `ws://127.0.0.1:${port}/grid`;
    const names = diallers(listenerUrl, "stall-peer", REPETITIONS);
    const child = start(res, { mode: "listen", secret: SECRET, stallMs: STALL_MS, local: listenerUrl, hosts: [listenerUrl, ...names], count: REPETITIONS });
    await child.waitFor((e) => e.ready === true, 40_000); // a child starts slowly on a loaded machine
    // Each dialler holds its Connect until all 10 have their 101 (so all are in flight when
    // the listener stalls); their own dial timeout outlasts the stall.
    const inner = sharedSecretAuth(SECRET);
    let waiting: (() => void)[] = [];
    const gated: ClusterAuth = {
      token: async (remote, local, challenge) => {
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === REPETITIONS) {
            for (const release of waiting) release();
            waiting = [];
          }
        });
        return inner.token(remote, local, challenge);
      },
      verify: (token, remote, local, challenge) => inner.verify(token, remote, local, challenge),
    };
    const dialEvents: { peer: string; state: string; reason?: string }[] = [];
    for (const name of names) {
      const m = new Manager({ local: name, hosts: [listenerUrl, name], auth: gated, logger: silentLogger, dialTimeoutMs: STALL_MS + 10_000, handshakeTimeoutMs: STALL_MS + 10_000 });
      res.managers.push(m);
      m.onStateChange((_peer, state, _previous, reason) => dialEvents.push({ peer: name, state, reason: reason?.message }));
    }
    const stalled = await child.waitFor((e) => e.stalled !== undefined, STALL_MS + 15_000);
    expect(stalled.stalled).toBeGreaterThanOrEqual(STALL_MS - 50);
    await Promise.all(res.managers.map((m) => m.connection(listenerUrl).waitConnected({ signal: AbortSignal.timeout(5000) })));
    await new Promise((r) => setTimeout(r, 1500));
    const states = history(dialEvents);
    const childLogs = child.events.filter((e) => e.log !== undefined && e.log.level !== "info").map((e) => e.log!.message);
    console.log(
      `[adversarial] item 7 (listener stalls ${STALL_MS} ms with ${REPETITIONS} handshakes in flight): ` +
        `dials failed ${[...states.values()].filter((h) => h.some((s) => s.startsWith("disconnected"))).length}/${REPETITIONS}; listener warnings: ${JSON.stringify([...new Set(childLogs)])}`,
    );
    expect(childLogs).toEqual([]);
    for (const name of names) expect(states.get(name), name).toEqual(["connecting", "connected"]);
  }
}

/**
 * A 3-node cluster on three "hosts" (network namespaces on one switch), with faults cut in the
 * network while calls and streams run: a full partition that heals, a one-way partition, a
 * flapping link, and a frozen (SIGSTOP) peer. Each scenario asserts:
 * - calls into the fault fail within the detection bound (pingTimeoutMs + one ping check),
 *   none hangs, none gets a wrong or duplicated answer;
 * - streams across the fault fail on both sides within the same bound;
 * - after the fault ends, every pair is connected again within the reconnect bound
 *   (reconnect.maxDelayMs + dialTimeoutMs: a dial in progress may be stuck on a SYN that went
 *   into the black hole).
 * Measured figures are printed at the end (detection, reconnect, calls failed / succeeded).
 *
 * Needs root and iproute2; elsewhere the suite is skipped with one line saying why.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lostAt, netnsSkipReason, startCluster, waitAllConnected, type NodeEvent, type RigCluster, type RigNode } from "./rig.js";
import type { LoadStats } from "./node.js";

const TIMING = { pingIntervalMs: 250, pingTimeoutMs: 1_000, dialTimeoutMs: 1_000, reconnectMaxMs: 500 };
/** Documented: a silent link is dropped within pingTimeoutMs plus one check (min(interval, timeout/4)). */
const DETECT_BOUND_MS = TIMING.pingTimeoutMs + Math.min(TIMING.pingIntervalMs, TIMING.pingTimeoutMs / 4);
/** Documented: after a fault ends, a pair is back within reconnect.maxDelayMs + dialTimeoutMs. */
const RECONNECT_BOUND_MS = TIMING.reconnectMaxMs + TIMING.dialTimeoutMs;
/** Scheduling slack on a loaded 2-core machine (timers, process wake-ups). */
const SLACK_MS = 750;
/**
 * A one-way fault is seen later: the cut-off node's own frames still arrive until TCP stops
 * sending new data (its retransmission timer backs off, ≥ 200 ms), so add TCP's first backoffs.
 */
const ONE_WAY_EXTRA_MS = 1_000;
/** Call deadline of the load: far above the bounds, so a call that fails by deadline shows. */
const CALL_TIMEOUT_MS = 10_000;

const skip = netnsSkipReason();
if (skip !== undefined) console.log(skip);

interface Row {
  scenario: string;
  detectionMs: number[];
  reconnectMs: number | undefined;
  succeeded: number;
  failed: number;
  failedBy: Record<string, number>;
  maxFailMs: number;
  streamsFailedMs: number[];
}
const rows: Row[] = [];

describe.skipIf(skip !== undefined)("a cluster across network namespaces", () => {
  let cluster: RigCluster;
  let a: RigNode, b: RigNode, c: RigNode;

  beforeAll(async () => {
    cluster = await startCluster(3, TIMING);
    [a, b, c] = cluster.nodes as [RigNode, RigNode, RigNode];
  }, 100_000);

  afterAll(() => {
    cluster?.destroy();
    if (rows.length > 0) {
      const lines = rows.map(
        (r) =>
          `${r.scenario.padEnd(22)} detection ${r.detectionMs.map((d) => `${d}`).join("/").padEnd(16)} ms  reconnect ${String(r.reconnectMs ?? "-").padStart(5)} ms  ` +
          `calls ok ${String(r.succeeded).padStart(6)} failed ${String(r.failed).padStart(4)} ${JSON.stringify(r.failedBy)} (slowest failure ${r.maxFailMs} ms)` +
          (r.streamsFailedMs.length ? `  streams failed after ${r.streamsFailedMs.join("/")} ms` : ""),
      );
      console.log(`namespace scenarios (ping ${TIMING.pingIntervalMs}/${TIMING.pingTimeoutMs} ms, dial timeout ${TIMING.dialTimeoutMs} ms, redial ≤ ${TIMING.reconnectMaxMs} ms; bounds: detection ${DETECT_BOUND_MS} ms, reconnect ${RECONNECT_BOUND_MS} ms, + ${SLACK_MS} ms slack)\n${lines.join("\n")}`);
    }
  });

  /** Every node calls every other node, 2 calls in flight per pair. */
  async function startLoad(): Promise<void> {
    await Promise.all(
      cluster.nodes.map((n) =>
        n.command({ op: "loadStart", to: cluster.nodes.filter((p) => p !== n).map((p) => p.address), concurrency: 2, timeoutMs: CALL_TIMEOUT_MS }),
      ),
    );
  }

  async function stopLoad(): Promise<{ stats: LoadStats[]; duplicates: number }> {
    const replies = await Promise.all(cluster.nodes.map((n) => n.command({ op: "loadStop" }, CALL_TIMEOUT_MS + 5_000)));
    return { stats: replies.map((r) => r.stats as LoadStats), duplicates: replies.reduce((s, r) => s + (r.duplicates as number), 0) };
  }

  function total(stats: LoadStats[]): { succeeded: number; failed: number; failedBy: Record<string, number>; wrong: number; hung: number; maxFailMs: number } {
    const failedBy: Record<string, number> = {};
    for (const s of stats) for (const [k, v] of Object.entries(s.failed)) failedBy[k] = (failedBy[k] ?? 0) + v;
    return {
      succeeded: stats.reduce((n, s) => n + s.succeeded, 0),
      failed: Object.values(failedBy).reduce((n, v) => n + v, 0),
      failedBy,
      wrong: stats.reduce((n, s) => n + s.wrong, 0),
      hung: stats.reduce((n, s) => n + s.hung, 0),
      maxFailMs: Math.max(0, ...stats.map((s) => s.maxFailMs)),
    };
  }

  /** A stream from `from` to `to` that sends every 50 ms; resolves once open. */
  async function openStream(from: RigNode, to: RigNode): Promise<void> {
    const reply = await from.command({ op: "stream", to: to.address, everyMs: 50 });
    expect(reply.ok, JSON.stringify(reply)).toBe(true);
  }

  const clientStreamEnd = (from: RigNode, to: RigNode, since: number): Promise<NodeEvent> =>
    from.waitEvent((e) => e.event === "clientStreamEnd" && e.to === to.address && e.t >= since, 10_000, `end of its stream to ${to.address}`);
  const serverStreamAborted = (server: RigNode, caller: RigNode, since: number): Promise<NodeEvent> =>
    server.waitEvent((e) => e.event === "serverStreamAborted" && e.caller === caller.address && e.t >= since, 10_000, `abort of ${caller.address}'s stream`);

  /**
   * Runs one fault on node c under load with streams c<->a, and checks the bounds.
   * `observers`: which (node, peer) pairs must see the link drop.
   */
  async function faultScenario(
    scenario: string,
    opts: { cut: () => void | Promise<void>; heal: () => void | Promise<void>; holdMs: number; detectBoundMs: number; streams: boolean },
  ): Promise<Row> {
    await waitAllConnected(cluster.nodes, 10_000);
    await startLoad();
    if (opts.streams) {
      await openStream(a, c);
      await openStream(c, a);
    }
    await new Promise((r) => setTimeout(r, 300)); // load running, streams flowing
    const cutAt = Date.now();
    await opts.cut();
    const streamEnds = opts.streams
      ? Promise.all([clientStreamEnd(a, c, cutAt), clientStreamEnd(c, a, cutAt), serverStreamAborted(c, a, cutAt), serverStreamAborted(a, c, cutAt)])
      : Promise.resolve([]);
    await new Promise((r) => setTimeout(r, opts.holdMs));
    // Both sides of every pair through c saw the link drop, within the bound.
    const detection: number[] = [];
    for (const [node, peer] of [
      [a, c],
      [b, c],
      [c, a],
      [c, b],
    ] as const) {
      const at = lostAt(node, peer.address, cutAt);
      expect(at, `${scenario}: ${node.address} never saw ${peer.address} drop`).toBeDefined();
      detection.push(at! - cutAt);
    }
    expect(Math.max(...detection), `${scenario}: detection ${detection.join("/")} ms`).toBeLessThanOrEqual(opts.detectBoundMs + SLACK_MS);
    // The pair that is not cut stayed up.
    expect(lostAt(a, b.address, cutAt), `${scenario}: a-b must stay connected`).toBeUndefined();
    const ends = (await streamEnds) as NodeEvent[];
    const streamsFailedMs = ends.map((e) => e.t - cutAt);
    for (const e of ends) {
      expect(e.ok, `${scenario}: a stream across the fault must fail, got ${JSON.stringify(e)}`).not.toBe(true);
      expect(String(e.error)).toMatch(/^disconnected:/);
    }
    if (ends.length > 0) expect(Math.max(...streamsFailedMs)).toBeLessThanOrEqual(opts.detectBoundMs + SLACK_MS);

    const healAt = Date.now();
    await opts.heal();
    const connectedAt = await waitAllConnected(cluster.nodes, RECONNECT_BOUND_MS + SLACK_MS + 5_000);
    const reconnectMs = Math.max(0, connectedAt - healAt);
    await new Promise((r) => setTimeout(r, 300)); // calls flow again
    const { stats, duplicates } = await stopLoad();
    const t = total(stats);
    const row: Row = { scenario, detectionMs: detection, reconnectMs, succeeded: t.succeeded, failed: t.failed, failedBy: t.failedBy, maxFailMs: t.maxFailMs, streamsFailedMs };
    rows.push(row);
    expect(reconnectMs, `${scenario}: reconnect`).toBeLessThanOrEqual(RECONNECT_BOUND_MS + SLACK_MS);
    expect(t.hung, `${scenario}: hung calls`).toBe(0);
    expect(t.wrong, `${scenario}: wrong answers`).toBe(0);
    expect(duplicates, `${scenario}: calls served twice`).toBe(0);
    // Calls into the fault failed as disconnected, never by their 10 s deadline, and fast.
    expect(Object.keys(t.failedBy).filter((k) => k !== "disconnected"), `${scenario}: ${JSON.stringify(t.failedBy)}`).toEqual([]);
    expect(t.failed).toBeGreaterThan(0);
    expect(t.maxFailMs, `${scenario}: slowest failed call`).toBeLessThanOrEqual(opts.detectBoundMs + SLACK_MS);
    await expectAllPairsCall();
    return row;
  }

  /** Every node gets the right answer from every other node. */
  let checks = 0;
  async function expectAllPairsCall(): Promise<void> {
    for (const n of cluster.nodes) {
      for (const p of cluster.nodes) {
        if (p === n) continue;
        const payload = `check-${++checks}`;
        const r = await n.command({ op: "call", to: p.address, payload, timeoutMs: 5_000 });
        expect(r.ok, JSON.stringify(r)).toBe(true);
        expect(r.value).toBe(`${p.address}:${payload}@${n.address}`);
      }
    }
  }

  it("full partition of one node (black hole), then healed: detected, calls and streams fail fast, reconnected", async () => {
    await faultScenario("full partition + heal", {
      cut: () => cluster.hosts.partition(2),
      heal: () => cluster.hosts.heal(2),
      holdMs: DETECT_BOUND_MS + SLACK_MS + 500,
      detectBoundMs: DETECT_BOUND_MS,
      streams: true,
    });
  }, 40_000);

  it("one-way partition (frames to one node dropped): both sides detect it, then reconnect", async () => {
    await faultScenario("one-way partition", {
      cut: () => cluster.hosts.oneWay(2),
      heal: () => cluster.hosts.heal(2),
      holdMs: DETECT_BOUND_MS + ONE_WAY_EXTRA_MS + SLACK_MS + 500,
      detectBoundMs: DETECT_BOUND_MS + ONE_WAY_EXTRA_MS,
      streams: true,
    });
  }, 40_000);

  it("a frozen peer (SIGSTOP on another host): detected by its peers, reconnected after SIGCONT", async () => {
    await waitAllConnected(cluster.nodes, 10_000);
    await startLoad();
    await new Promise((r) => setTimeout(r, 300));
    const cutAt = Date.now();
    c.freeze();
    try {
      await new Promise((r) => setTimeout(r, DETECT_BOUND_MS + SLACK_MS + 500));
    } finally {
      c.thaw();
    }
    const healAt = Date.now();
    const detection = [lostAt(a, c.address, cutAt), lostAt(b, c.address, cutAt)].map((t) => (t === undefined ? Infinity : t - cutAt));
    const connectedAt = await waitAllConnected(cluster.nodes, RECONNECT_BOUND_MS + SLACK_MS + 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const { stats, duplicates } = await stopLoad();
    // The frozen node's own load: its calls were frozen with it, so only a and b are judged.
    const t = total(stats.slice(0, 2));
    const reconnectMs = Math.max(0, connectedAt - healAt);
    rows.push({ scenario: "frozen peer (SIGSTOP)", detectionMs: detection, reconnectMs, succeeded: t.succeeded, failed: t.failed, failedBy: t.failedBy, maxFailMs: t.maxFailMs, streamsFailedMs: [] });
    expect(Math.max(...detection), `detection ${detection.join("/")}`).toBeLessThanOrEqual(DETECT_BOUND_MS + SLACK_MS);
    expect(reconnectMs).toBeLessThanOrEqual(RECONNECT_BOUND_MS + SLACK_MS);
    expect(t.hung + total(stats).hung).toBe(0);
    expect(total(stats).wrong).toBe(0);
    expect(duplicates).toBe(0);
    expect(Object.keys(t.failedBy).filter((k) => k !== "disconnected")).toEqual([]);
    expect(t.maxFailMs).toBeLessThanOrEqual(DETECT_BOUND_MS + SLACK_MS);
    await expectAllPairsCall();
  }, 40_000);

  it("a flapping link (down/up every 300 ms): no call hangs or gets a wrong answer; all pairs reconnect after", async () => {
    await waitAllConnected(cluster.nodes, 10_000);
    await startLoad();
    await new Promise((r) => setTimeout(r, 300));
    const cutAt = Date.now();
    await cluster.hosts.flap(2, 300, 6); // 3.6 s
    const healAt = Date.now();
    const connectedAt = await waitAllConnected(cluster.nodes, RECONNECT_BOUND_MS + SLACK_MS + 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const { stats, duplicates } = await stopLoad();
    const t = total(stats);
    const drops = cluster.nodes.reduce((n, node) => n + node.events.filter((e) => e.event === "state" && e.state === "disconnected" && e.t >= cutAt).length, 0);
    const reconnectMs = Math.max(0, connectedAt - healAt);
    rows.push({ scenario: `flapping (${drops} drops)`, detectionMs: [], reconnectMs, succeeded: t.succeeded, failed: t.failed, failedBy: t.failedBy, maxFailMs: t.maxFailMs, streamsFailedMs: [] });
    expect(reconnectMs).toBeLessThanOrEqual(RECONNECT_BOUND_MS + SLACK_MS);
    expect(t.hung).toBe(0);
    expect(t.wrong).toBe(0);
    expect(duplicates).toBe(0);
    expect(Object.keys(t.failedBy).filter((k) => k !== "disconnected")).toEqual([]);
    // A call fails at the latest when its link is declared dead.
    expect(t.maxFailMs).toBeLessThanOrEqual(DETECT_BOUND_MS + SLACK_MS);
    expect(t.succeeded).toBeGreaterThan(0);
    // A link that came up between two flaps may have lost frames in the last one; it is
    // declared dead only at its ping timeout, after waitAllConnected saw it up. Let such
    // links die and come back before checking every pair.
    await new Promise((r) => setTimeout(r, DETECT_BOUND_MS));
    await waitAllConnected(cluster.nodes, RECONNECT_BOUND_MS + SLACK_MS + 5_000);
    await expectAllPairsCall();
  }, 45_000);
});

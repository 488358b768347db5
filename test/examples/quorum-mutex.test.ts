import { describe, expect, it } from "vitest";
import { DisconnectedError, type CallOptions } from "tsgrid";
import { LockTable, type LockArgs } from "../../examples/lock-service/lock-table.js";
import { QuorumMutex, quorumOf, type LockPeer } from "../../examples/lock-service/quorum-mutex.js";
import { localPeer } from "../../examples/lock-service/local-peer.js";

/** An in-memory node: a real LockTable behind a switch that can take it down or stall it. */
class FakeNode implements LockPeer {
  readonly table = new LockTable();
  down = false;
  /** When set, calls wait for this promise before answering (a slow node). */
  stall: Promise<void> | undefined;
  calls = 0;
  constructor(readonly name: string) {}
  private async call(fn: (args: LockArgs) => boolean, args: LockArgs, _opts: CallOptions): Promise<boolean> {
    this.calls++;
    if (this.down) throw new DisconnectedError(`${this.name} is down`);
    if (this.stall) await this.stall;
    return fn(args);
  }
  lock = (a: LockArgs, o: CallOptions) => this.call((x) => this.table.lock(x), a, o);
  rLock = (a: LockArgs, o: CallOptions) => this.call((x) => this.table.rLock(x), a, o);
  unlock = (a: LockArgs, o: CallOptions) => this.call((x) => this.table.unlock(x), a, o);
  rUnlock = (a: LockArgs, o: CallOptions) => this.call((x) => this.table.rUnlock(x), a, o);
  refresh = (a: LockArgs, o: CallOptions) => this.call((x) => this.table.refresh(x), a, o);
}

function cluster(n: number): FakeNode[] {
  return Array.from({ length: n }, (_, i) => new FakeNode(`node${i}`));
}

const fast = { retryMinMs: 1, retryMaxMs: 3 };

describe("quorumOf", () => {
  it("matches dsync: write n/2+1, read n-n/2", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => quorumOf(n, true))).toEqual([1, 2, 2, 3, 3, 4]);
    expect([1, 2, 3, 4, 5, 6].map((n) => quorumOf(n, false))).toEqual([1, 1, 2, 2, 3, 3]);
  });
});

describe("QuorumMutex", () => {
  it("locks on every node and unlocks everywhere", async () => {
    const nodes = cluster(3);
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", ...fast });
    expect(await m.lock()).toBe(true);
    expect(m.isHeld).toBe(true);
    expect(nodes.map((n) => n.table.holders("res")[0]?.uid)).toEqual([m.uid, m.uid, m.uid]);
    await m.unlock();
    await m.unlock(); // idempotent
    expect(nodes.every((n) => n.table.size === 0)).toBe(true);
  });

  it("mutual exclusion: a second writer fails within its timeout and leaves nothing behind", async () => {
    const nodes = cluster(5);
    const a = new QuorumMutex(nodes, ["res"], { owner: "a", ...fast });
    const b = new QuorumMutex(nodes, ["res"], { owner: "b", ...fast });
    expect(await a.lock()).toBe(true);
    expect(await b.lock({ timeoutMs: 30 })).toBe(false);
    expect(nodes.every((n) => n.table.holders("res").every((h) => h.owner === "a"))).toBe(true);
    await a.unlock();
    expect(await b.lock({ timeoutMs: 30 })).toBe(true);
    await b.unlock();
  });

  it("a split vote releases the partial grants so another client can win", async () => {
    const nodes = cluster(4); // write quorum 3
    // Someone else holds the resource on two nodes: no quorum possible for us.
    nodes[0]!.table.lock({ uid: "other", resources: ["res"], owner: "other", source: "" });
    nodes[1]!.table.lock({ uid: "other", resources: ["res"], owner: "other", source: "" });
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", ...fast });
    expect(await m.lock({ timeoutMs: 20 })).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(nodes[2]!.table.size + nodes[3]!.table.size).toBe(0);
  });

  it("holds with a minority of nodes down, fails without quorum", async () => {
    const nodes = cluster(5);
    nodes[3]!.down = true;
    nodes[4]!.down = true;
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", ...fast });
    expect(await m.lock()).toBe(true);
    await m.unlock();
    nodes[2]!.down = true;
    const started = Date.now();
    expect(await m.lock({ timeoutMs: 50 })).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(nodes.every((n) => n.table.size === 0)).toBe(true);
  });

  it("does not wait for a slow node once the quorum answered, and releases its late grant after unlock", async () => {
    const nodes = cluster(3);
    let unstall!: () => void;
    nodes[2]!.stall = new Promise((r) => (unstall = r));
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", ...fast });
    expect(await m.lock()).toBe(true);
    await m.unlock();
    unstall();
    await new Promise((r) => setTimeout(r, 5));
    expect(nodes.map((n) => n.table.size)).toEqual([0, 0, 0]);
  });

  it("read locks are shared across clients and exclude writers", async () => {
    const nodes = cluster(3);
    const r1 = new QuorumMutex(nodes, ["res"], { owner: "r1", ...fast });
    const r2 = new QuorumMutex(nodes, ["res"], { owner: "r2", ...fast });
    const w = new QuorumMutex(nodes, ["res"], { owner: "w", ...fast });
    expect(await r1.rLock()).toBe(true);
    expect(await r2.rLock()).toBe(true);
    expect(await w.lock({ timeoutMs: 20 })).toBe(false);
    await r1.unlock();
    await r2.unlock();
    expect(await w.lock()).toBe(true);
    await w.unlock();
  });

  it("refresh keeps the lock; losing it on a quorum of nodes reports it lost", async () => {
    const nodes = cluster(3);
    let lost = 0;
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", refreshIntervalMs: 60_000, onLost: () => lost++, ...fast });
    expect(await m.lock()).toBe(true);
    nodes[0]!.down = true; // a down node is neither a refresh nor a loss
    expect(await m.refreshOnce()).toBe(true);
    nodes[0]!.down = false;
    const uid = m.uid!;
    nodes[0]!.table.forceUnlock({ uid: "op", resources: ["res"], owner: "op", source: "" });
    expect(await m.refreshOnce()).toBe(true); // one node lost it: tolerated
    nodes[1]!.table.forceUnlock({ uid: "op", resources: ["res"], owner: "op", source: "" });
    expect(await m.refreshOnce()).toBe(false);
    expect(lost).toBe(1);
    expect(m.isHeld).toBe(false);
    expect(nodes[2]!.table.holders("res").find((h) => h.uid === uid)).toBeUndefined(); // released
  });

  it("refreshes on its own while held", async () => {
    const nodes = cluster(3);
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", refreshIntervalMs: 5, ...fast });
    await m.lock();
    const before = nodes[0]!.calls;
    await new Promise((r) => setTimeout(r, 40));
    expect(nodes[0]!.calls).toBeGreaterThan(before + 1);
    await m.unlock();
    const after = nodes[0]!.calls;
    await new Promise((r) => setTimeout(r, 20));
    expect(nodes[0]!.calls).toBe(after); // loop stopped
  });

  it("uses the local table directly for the node's own share", async () => {
    const table = new LockTable();
    const nodes = [localPeer("self", table), ...cluster(2)];
    const m = new QuorumMutex(nodes, ["a", "b"], { owner: "me", ...fast });
    expect(await m.lock()).toBe(true);
    expect(table.size).toBe(2);
    await m.unlock();
    expect(table.size).toBe(0);
  });

  it("stops retrying when the caller aborts", async () => {
    const nodes = cluster(3);
    nodes.forEach((n) => n.table.lock({ uid: "x", resources: ["res"], owner: "x", source: "" }));
    const m = new QuorumMutex(nodes, ["res"], { owner: "me", ...fast });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop")), 10);
    await expect(m.lock({ timeoutMs: 10_000, signal: ac.signal })).rejects.toThrow("stop");
  });
});

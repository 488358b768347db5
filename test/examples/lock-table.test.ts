import { describe, expect, it } from "vitest";
import { LockTable, type LockArgs } from "../../examples/lock-service/lock-table.js";
import type { LockEvent } from "../../examples/lock-service/lock-events.js";

function args(uid: string, ...resources: string[]): LockArgs {
  return { uid, resources, owner: `owner-${uid}`, source: "test" };
}

function clock(start = 1_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe("LockTable", () => {
  it("write locks are exclusive and all-or-nothing", () => {
    const table = new LockTable();
    expect(table.lock(args("a", "x", "y"))).toBe(true);
    expect(table.lock(args("b", "y", "z"))).toBe(false);
    expect(table.holders("z")).toEqual([]); // nothing half-applied
    expect(table.rLock(args("c", "x"))).toBe(false);
    expect(table.unlock(args("b", "x"))).toBe(false); // wrong uid
    expect(table.unlock(args("a", "x", "y"))).toBe(true);
    expect(table.size).toBe(0);
    expect(table.lock(args("b", "y", "z"))).toBe(true);
  });

  it("read locks are shared and block writers until every reader left", () => {
    const table = new LockTable();
    expect(table.rLock(args("r1", "x"))).toBe(true);
    expect(table.rLock(args("r2", "x"))).toBe(true);
    expect(table.lock(args("w", "x"))).toBe(false);
    expect(table.unlock(args("r1", "x"))).toBe(false); // a read lock is released by rUnlock
    expect(table.rUnlock(args("r1", "x"))).toBe(true);
    expect(table.holders("x").map((h) => h.uid)).toEqual(["r2"]);
    expect(table.rUnlock(args("r2", "x"))).toBe(true);
    expect(table.lock(args("w", "x"))).toBe(true);
  });

  it("refuses requests without a uid or resources", () => {
    const table = new LockTable();
    expect(table.lock(args("", "x"))).toBe(false);
    expect(table.lock(args("a"))).toBe(false);
    expect(table.size).toBe(0);
  });

  it("expires locks that were not refreshed within the validity interval", () => {
    const c = clock();
    const table = new LockTable({ validityMs: 100, now: c.now });
    table.lock(args("kept", "a"));
    table.rLock(args("stale", "b"));
    table.rLock(args("kept2", "b"));
    c.advance(60);
    expect(table.refresh(args("kept", "a"))).toBe(true);
    expect(table.refresh(args("kept2", "b"))).toBe(true);
    c.advance(60);
    expect(table.expireStale()).toBe(1);
    expect(table.holders("b").map((h) => h.uid)).toEqual(["kept2"]);
    expect(table.holders("a")).toHaveLength(1);
    c.advance(200);
    expect(table.expireStale()).toBe(2);
    expect(table.size).toBe(0);
    expect(table.refresh(args("kept", "a"))).toBe(false); // the client learns its lock is gone
  });

  it("force unlock removes every holder", () => {
    const table = new LockTable();
    table.rLock(args("r1", "x"));
    table.rLock(args("r2", "x"));
    expect(table.forceUnlock(args("op", "x", "unknown"))).toBe(true);
    expect(table.size).toBe(0);
    expect(table.forceUnlock(args("op", "x"))).toBe(false);
  });

  it("publishes every change, numbered, to each subscriber", async () => {
    const c = clock();
    const table = new LockTable({ validityMs: 10, now: c.now });
    const sub = table.subscribe();
    table.lock(args("a", "x"));
    table.refresh(args("a", "x"));
    table.unlock(args("a", "x"));
    table.rLock(args("b", "y"));
    table.rUnlock(args("b", "y"));
    table.rLock(args("c", "y"));
    c.advance(20);
    table.expireStale();
    table.lock(args("d", "z"));
    table.forceUnlock(args("op", "z"));
    const seen: LockEvent[] = [];
    for (let i = 0; i < 9; i++) {
      const r = await sub.next();
      if (!r.done) seen.push(r.value);
    }
    expect(seen.map((e) => `${e.seq}:${e.kind}:${e.resource}:${e.uid}`)).toEqual([
      "1:lock:x:a",
      "2:refresh:x:a",
      "3:unlock:x:a",
      "4:rlock:y:b",
      "5:runlock:y:b",
      "6:rlock:y:c",
      "7:expire:y:c",
      "8:lock:z:d",
      "9:force-unlock:z:d",
    ]);
    expect(seen[0]?.owner).toBe("owner-a");
    sub.close();
  });
});

describe("LockSubscription", () => {
  it("bounds a slow subscriber's buffer: drops the oldest, counts them, shows the gap in seq", async () => {
    const table = new LockTable();
    const slow = table.subscribe({ capacity: 3 });
    for (let i = 0; i < 10; i++) table.lock(args(`u${i}`, `r${i}`));
    expect(slow.pending).toBe(3);
    expect(slow.dropped).toBe(7);
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await slow.next();
      if (!r.done) seqs.push(r.value.seq);
    }
    expect(seqs).toEqual([8, 9, 10]);
    slow.close();
  });

  it("delivers to a waiting reader, and ends it on close, abort or table close", async () => {
    const table = new LockTable();
    const sub = table.subscribe({ capacity: 2 });
    const waiting = sub.next();
    table.lock(args("a", "x"));
    expect((await waiting).value).toMatchObject({ kind: "lock", uid: "a" });
    const pending = sub.next();
    sub.close();
    sub.close(); // idempotent
    expect(await pending).toEqual({ value: undefined, done: true });

    const ac = new AbortController();
    const aborted = table.subscribe({ signal: ac.signal });
    const p = aborted.next();
    ac.abort();
    expect((await p).done).toBe(true);

    const pre = new AbortController();
    pre.abort();
    expect((await table.subscribe({ signal: pre.signal }).next()).done).toBe(true);

    const last = table.subscribe();
    const q = last.next();
    table.close();
    expect((await q).done).toBe(true);
    table.lock(args("b", "y")); // no subscriber left: nothing buffered anywhere
    expect(last.pending).toBe(0);
  });

  it("works with for await and unsubscribes on break", async () => {
    const table = new LockTable();
    const sub = table.subscribe();
    table.lock(args("a", "x"));
    table.unlock(args("a", "x"));
    const kinds: string[] = [];
    for await (const e of sub) {
      kinds.push(e.kind);
      if (kinds.length === 2) break;
    }
    expect(kinds).toEqual(["lock", "unlock"]);
    table.lock(args("b", "x"));
    expect(sub.pending).toBe(0);
  });

  it("rejects a bad capacity", () => {
    expect(() => new LockTable().subscribe({ capacity: 0 })).toThrow(RangeError);
  });
});

describe("LockSubscription filter", () => {
  it("delivers only matching events and keeps the table's seq", async () => {
    const table = new LockTable();
    const sub = table.subscribe({ filter: (e) => e.resource.startsWith("a/") && e.kind === "lock" });
    table.lock(args("1", "b/x"));
    table.lock(args("2", "a/x"));
    table.unlock(args("2", "a/x"));
    table.lock(args("3", "a/y"));
    expect(sub.pending).toBe(2);
    expect((await sub.next()).value).toMatchObject({ seq: 2, uid: "2" });
    expect((await sub.next()).value).toMatchObject({ seq: 4, uid: "3" });
    sub.close();
  });
});

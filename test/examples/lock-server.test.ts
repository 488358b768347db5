import { describe, expect, it } from "vitest";
import type { HandlerContext } from "tsgrid";
import type { LockEvent, RefreshResult } from "../../generated/locks.js";
import { LockTable } from "../../examples/lock-service/lock-table.js";
import { Metrics } from "../../examples/lock-service/metrics.js";
import { LockService } from "../../examples/lock-service/server.js";

function ctx(signal = new AbortController().signal): HandlerContext {
  return { signal, caller: "ws://peer/grid", deadline: undefined, subroute: undefined, metadata: {} };
}
const args = (uid: string, ...resources: string[]) => ({ uid, resources, owner: "node1", quorum: 2 });

describe("LockService (the LockerServer over a LockTable)", () => {
  it("answers every single handler with ok, or why not", () => {
    const metrics = new Metrics();
    const s = new LockService(new LockTable(), { metrics });
    expect(s.lock(args("a", "x"))).toEqual({ ok: true });
    expect(s.lock(args("b", "x"))).toEqual({ ok: false, reason: "conflict", holder: "a" });
    expect(s.rLock(args("c", "x"))).toEqual({ ok: false, reason: "conflict", holder: "a" });
    expect(s.refresh(args("a", "x"))).toEqual({ ok: true });
    expect(s.refresh(args("zz", "x"))).toEqual({ ok: false, reason: "not_found" });
    expect(s.unlock(args("a", "x"))).toEqual({ ok: true });
    expect(s.unlock(args("a", "x"))).toEqual({ ok: false, reason: "not_found" });
    expect(s.rLock(args("r", "y"))).toEqual({ ok: true });
    expect(s.rUnlock(args("r", "y"))).toEqual({ ok: true });
    expect(s.lock(args("", "x"))).toEqual({ ok: false, reason: "invalid" });
    expect(s.lock({ ...args("u"), owner: "" })).toEqual({ ok: false, reason: "invalid" });
    s.lock(args("d", "z"));
    expect(s.forceUnlock(args("op", "z"))).toEqual({ ok: true });
    expect(s.forceUnlock(args("op", "z"))).toEqual({ ok: false, reason: "not_found" });
    expect(metrics.served).toMatchObject({ lock: 5, rLock: 2, unlock: 2, refresh: 2, forceUnlock: 2, rUnlock: 1 });
  });

  it("lockEvents streams the filtered changes and stops when the call is cancelled", async () => {
    const table = new LockTable();
    const s = new LockService(table);
    const ac = new AbortController();
    const events = s.lockEvents({ prefix: "a/", kinds: ["lock"] }, ctx(ac.signal))[Symbol.asyncIterator]();
    const first = events.next(); // the generator subscribes on its first next()
    table.lock({ uid: "1", resources: ["b/x"], owner: "n" });
    table.lock({ uid: "2", resources: ["a/x"], owner: "n" });
    table.unlock({ uid: "2", resources: ["a/x"], owner: "n" });
    table.lock({ uid: "3", resources: ["a/y"], owner: "n" });
    const seen = [(await first).value as LockEvent, (await events.next()).value as LockEvent];
    expect(seen.map((e) => [e.seq, e.kind, e.resource, e.uid])).toEqual([
      [2, "lock", "a/x", "2"],
      [4, "lock", "a/y", "3"],
    ]);
    expect(seen[0]?.time).toBeInstanceOf(Date);
    const pending = events.next();
    ac.abort();
    expect((await pending).done).toBe(true);
  });

  it("refreshMany answers one result per request, in order", async () => {
    const table = new LockTable();
    const s = new LockService(table);
    table.lock({ uid: "a", resources: ["x"], owner: "n" });
    async function* input() {
      yield { uid: "a", resources: ["x"] };
      yield { uid: "gone", resources: ["x"] };
      yield { uid: "", resources: ["x"] };
    }
    const out: RefreshResult[] = [];
    for await (const r of s.refreshMany(input())) out.push(r);
    expect(out).toEqual([
      { uid: "a", ok: true },
      { uid: "gone", ok: false, reason: "not_found" },
      { uid: "", ok: false, reason: "invalid" },
    ]);
  });
});

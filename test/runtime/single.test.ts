import { afterEach, describe, expect, it } from "vitest";
import {
  AbortError,
  DeadlineExceededError,
  DisconnectedError,
  MessageTooLargeError,
  RemoteError,
  UnknownHandlerError,
} from "../../runtime/errors.js";
import type { GridError } from "../../runtime/errors.js";
import { bytes, makePair, sleep, text, transports, until } from "./helpers.js";
import type { Pair } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe.each(transports)("single requests over %s", (kind) => {
  it("round-trips empty, 1 byte and 1 MiB payloads", async () => {
    pair = await makePair(kind);
    pair.rb.registerSingle(1, (p) => {
      const out = new Uint8Array(p.byteLength);
      for (let i = 0; i < p.byteLength; i++) out[i] = p[i]! ^ 0xff;
      return out;
    });
    expect((await pair.a.request(1, new Uint8Array(0))).byteLength).toBe(0);
    expect([...(await pair.a.request(1, Uint8Array.of(7)))]).toEqual([7 ^ 0xff]);
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const back = await pair.a.request(1, big);
    expect(back.byteLength).toBe(1 << 20);
    for (let i = 0; i < big.length; i += 4099) expect(back[i]).toBe((i & 0xff) ^ 0xff);
    expect(pair.a.stats.inFlight).toBe(0);
    expect(pair.b.stats.inFlight).toBe(0);
  });

  it("turns a handler's throw into RemoteError with its message", async () => {
    pair = await makePair(kind);
    pair.rb.registerSingle(2, async () => {
      throw new Error("boom: disk full");
    });
    const err = await pair.a.request(2, bytes("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as GridError).rawMessage).toBe("boom: disk full");
    expect((err as GridError).code).toBe("remote");
  });

  it("answers an unknown handler with UnknownHandlerError", async () => {
    pair = await makePair(kind);
    await expect(pair.a.request(77, bytes("x"))).rejects.toBeInstanceOf(UnknownHandlerError);
    pair.rb.registerSingle(5, (p) => p, { subroute: "bucket-1" });
    await expect(pair.a.request(5, bytes("x"))).rejects.toBeInstanceOf(UnknownHandlerError);
    expect(text(await pair.a.subroute("bucket-1").request(5, bytes("hi")))).toBe("hi");
    await expect(pair.a.subroute("bucket-2").request(5, bytes("x"))).rejects.toBeInstanceOf(UnknownHandlerError);
  });

  it("expires a deadline on both sides", async () => {
    pair = await makePair(kind);
    let serverReason: unknown;
    let ctxDeadline: number | undefined;
    pair.rb.registerSingle(3, (_p, ctx) => {
      ctxDeadline = ctx.deadline;
      return new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          serverReason = ctx.signal.reason;
          reject(ctx.signal.reason);
        });
      });
    });
    const started = Date.now();
    const err = await pair.a.request(3, bytes("x"), { timeoutMs: 80 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(ctxDeadline).toBeGreaterThan(started);
    await until(() => serverReason !== undefined);
    expect(serverReason).toBeInstanceOf(DeadlineExceededError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("aborting the caller's signal rejects at once and aborts the server's ctx.signal", async () => {
    pair = await makePair(kind);
    let serverReason: unknown;
    let entered = false;
    pair.rb.registerSingle(4, (_p, ctx) => {
      entered = true;
      return new Promise((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          serverReason = ctx.signal.reason;
          resolve(bytes("late answer")); // dropped: the caller is gone
        });
      });
    });
    const ac = new AbortController();
    const p = pair.a.request(4, bytes("x"), { signal: ac.signal });
    await until(() => entered);
    ac.abort(new Error("user gave up"));
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await until(() => serverReason !== undefined);
    expect(serverReason).toBeInstanceOf(AbortError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
    // An already-aborted signal rejects without sending anything.
    await expect(pair.a.request(4, bytes("x"), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  it("one signal shared by 5,000 calls cancels them all, with one listener", async () => {
    pair = await makePair(kind, { maxIncomingCalls: 6000 }); // above the default cap (maxIncomingCalls)
    let entered = 0;
    pair.rb.registerSingle(4, (_p, ctx) => {
      entered++;
      return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve(bytes("late"))));
    });
    pair.rb.registerSingle(5, (p) => p);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const ac = new AbortController();
    const calls = Array.from({ length: 5000 }, () => pair!.a.request(4, bytes("x"), { signal: ac.signal }).catch((e: unknown) => e));
    // A call that finishes first leaves the shared signal's group cleanly.
    expect(text(await pair.a.request(5, bytes("ok"), { signal: ac.signal }))).toBe("ok");
    await until(() => entered === 5000);
    ac.abort();
    for (const r of await Promise.all(calls)) expect(r).toBeInstanceOf(AbortError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
    process.off("warning", onWarning);
    expect(warnings.filter((w) => /listener/i.test(w.message))).toEqual([]);
  });

  it("answers 10,000 concurrent requests from both sides at once", async () => {
    // Above the default cap of calls served at once per peer (maxIncomingCalls).
    pair = await makePair(kind, { maxIncomingCalls: 10_000 });
    const { a, b } = pair;
    pair.ra.registerSingle(1, (p) => Uint8Array.of(1, ...p));
    pair.rb.registerSingle(1, async (p) => Uint8Array.of(2, ...p));
    const n = 10_000;
    const enc = (i: number) => Uint8Array.of(i & 0xff, (i >> 8) & 0xff);
    const fromA = Array.from({ length: n }, (_, i) => a.request(1, enc(i)));
    const fromB = Array.from({ length: n }, (_, i) => b.request(1, enc(i)));
    const [ra, rb] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
    for (let i = 0; i < n; i++) {
      expect([...ra[i]!]).toEqual([2, i & 0xff, (i >> 8) & 0xff]);
      expect([...rb[i]!]).toEqual([1, i & 0xff, (i >> 8) & 0xff]);
    }
    expect(a.stats.inFlight).toBe(0);
    expect(b.stats.inFlight).toBe(0);
    // Merging: far fewer transport messages than frames.
    expect(a.stats.messagesOut).toBeLessThan(a.stats.framesOut / 10);
  });

  it("rejects an oversize payload before sending", async () => {
    pair = await makePair(kind, { maxMessageBytes: 1024 });
    pair.rb.registerSingle(1, (p) => p);
    const before = pair.a.stats.framesOut;
    await expect(pair.a.request(1, new Uint8Array(1025))).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(pair.a.stats.framesOut).toBe(before);
    expect(pair.a.stats.inFlight).toBe(0);
  });

  it("fails every in-flight request with DisconnectedError when the link drops", async () => {
    pair = await makePair(kind);
    let entered = 0;
    const aborted: unknown[] = [];
    pair.rb.registerSingle(1, (_p, ctx) => {
      entered++;
      return new Promise((_res, rej) => ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.signal.reason);
        rej(ctx.signal.reason);
      }));
    });
    const calls = Array.from({ length: 50 }, () => pair!.a.request(1, bytes("x")).catch((e: unknown) => e));
    await until(() => entered === 50);
    pair.b.detach(new Error("cable cut"));
    const results = await Promise.all(calls);
    for (const r of results) expect(r).toBeInstanceOf(DisconnectedError);
    expect(aborted).toHaveLength(50);
    for (const r of aborted) expect(r).toBeInstanceOf(DisconnectedError);
    expect(pair.a.stats.inFlight).toBe(0);
    expect(pair.b.stats.inFlight).toBe(0);
    expect(pair.a.state).toBe("disconnected");
    await expect(pair.a.request(1, bytes("x"))).rejects.toBeInstanceOf(DisconnectedError);
    await sleep(1);
  });
});

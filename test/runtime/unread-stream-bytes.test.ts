/**
 * maxUnreadStreamBytes: credits bound a stream's queue in messages, this bounds the bytes of
 * one peer's stream messages waiting unread across its streams, in both directions. The
 * stream whose message would go beyond fails with ResourceExhaustedError on both sides, its
 * queue is freed, and the other streams and calls of the link go on.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ResourceExhaustedError } from "../../runtime/errors.js";
import { Pushed, UnreadBudget, InboundQueue } from "../../runtime/mux/stream-flow.js";
import { makePair, transports, until, type Pair } from "./helpers.js";

const KiB = 1024;
let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const owner = { returnCredits: () => {}, consumerStopped: () => {} };

describe("UnreadBudget and InboundQueue", () => {
  it("counts queued bytes, gives them back as the consumer reads, and refuses past the budget", async () => {
    const budget = new UnreadBudget(10);
    const a = new InboundQueue(8, owner, budget);
    const b = new InboundQueue(8, owner, budget);
    expect(a.push(new Uint8Array(6))).toBe(Pushed.Queued);
    expect(b.push(new Uint8Array(4))).toBe(Pushed.Queued);
    expect(budget.held).toBe(10);
    expect(b.push(new Uint8Array(1))).toBe(Pushed.OverBudget);
    await a.next();
    expect(budget.held).toBe(4);
    expect(b.push(new Uint8Array(6))).toBe(Pushed.Queued);
    // A message alone always fits, however large.
    const lone = new UnreadBudget(10);
    expect(new InboundQueue(8, owner, lone).push(new Uint8Array(100))).toBe(Pushed.Queued);
  });

  it("a message handed straight to a waiting consumer is not counted", async () => {
    const budget = new UnreadBudget(10);
    const q = new InboundQueue(8, owner, budget);
    const waiting = q.next();
    expect(q.push(new Uint8Array(100))).toBe(Pushed.Queued);
    expect((await waiting).value).toHaveLength(100);
    expect(budget.held).toBe(0);
  });

  it("gives everything back once: on an immediate failure, a stop, or the end of the stream", () => {
    const budget = new UnreadBudget(100);
    const failed = new InboundQueue(8, owner, budget);
    const stopped = new InboundQueue(8, owner, budget);
    const ended = new InboundQueue(8, owner, budget);
    for (const q of [failed, stopped, ended]) q.push(new Uint8Array(10));
    expect(budget.held).toBe(30);
    failed.fail(new ResourceExhaustedError("x"), true);
    void stopped.return();
    ended.end();
    ended.release(); // the stream finished: the peer can add nothing more
    ended.release();
    failed.release();
    expect(budget.held).toBe(0);
  });

  it("credits still come first: a message past the capacity is OverCredits", () => {
    const q = new InboundQueue(1, owner, new UnreadBudget(1000));
    expect(q.push(new Uint8Array(1))).toBe(Pushed.Queued);
    expect(q.push(new Uint8Array(1))).toBe(Pushed.OverCredits);
  });
});

describe.each(transports)("maxUnreadStreamBytes over %s", (kind) => {
  it("a caller that does not read its responses: the stream beyond the budget fails on both sides, the others go on", async () => {
    pair = await makePair(kind, { maxUnreadStreamBytes: 256 * KiB });
    let serverSaw: unknown;
    pair.rb.registerStream(
      1,
      async function* (payload, _in, ctx) {
        const size = payload![0]! * KiB;
        if (size === 64 * KiB) ctx.signal.addEventListener("abort", () => (serverSaw = ctx.signal.reason));
        for (let i = 0; i < 1000; i++) yield new Uint8Array(size);
      },
      { outCapacity: 8 },
    );
    pair.rb.registerSingle(2, (p) => p);
    // A full window of 16 KiB messages (128 KiB) fits; a second stream of 64 KiB messages
    // (8 credits: 512 KiB offered within credits) goes beyond 256 KiB at its third message.
    const small = await pair.a.newStream(1, Uint8Array.of(16));
    await until(() => (small.responses as unknown as { size: number }).size === 8);
    const large = await pair.a.newStream(1, Uint8Array.of(64));
    // Not read until the server saw the failure: then the first read throws (queue dropped).
    await until(() => serverSaw !== undefined);
    expect(serverSaw).toBeInstanceOf(ResourceExhaustedError);
    const err = await large.responses[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect((err as Error).message).toMatch(/maxUnreadStreamBytes/);
    // The small stream keeps its window and still reads; calls still work.
    expect(new TextDecoder().decode(await pair.a.request(2, new TextEncoder().encode("ok")))).toBe("ok");
    let read = 0;
    for await (const _m of small.responses) {
      if (++read === 50) break;
    }
    expect(read).toBe(50);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("a handler that does not read its input: the stream beyond the budget fails on both sides", async () => {
    pair = await makePair(kind, { maxUnreadStreamBytes: 256 * KiB });
    let handlerSaw: unknown;
    pair.rb.registerStream(
      3,
      async function* (_p, _in, ctx) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        handlerSaw = ctx.signal.reason;
      },
      { inCapacity: 8 },
    );
    const s = await pair.a.newStream(3);
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) sent.push(s.requests!.send(new Uint8Array(64 * KiB)));
    const settled = await Promise.allSettled(sent);
    const err = await (async () => {
      for await (const _m of s.responses) {
        // nothing is yielded
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect((err as Error).message).toMatch(/maxUnreadStreamBytes/);
    await until(() => handlerSaw !== undefined);
    expect(handlerSaw).toBeInstanceOf(ResourceExhaustedError);
    // The sends were within credits; whatever went out before the failure was accepted.
    expect(settled.some((r) => r.status === "fulfilled")).toBe(true);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });
});

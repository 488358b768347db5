import { afterEach, describe, expect, it } from "vitest";
import { AbortError, DeadlineExceededError, DisconnectedError, RemoteError, UnknownHandlerError } from "../../runtime/errors.js";
import type { GridError } from "../../runtime/errors.js";
import type { Stream } from "../../runtime/types.js";
import { bytes, makePair, sleep, text, transports, until } from "./helpers.js";
import type { Pair } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

async function collect(stream: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const m of stream.responses) out.push(text(m));
  return out;
}

/** The caller-side response queue (to check the flow-control bound). */
function queued(stream: Stream): number {
  return (stream.responses as unknown as { size: number }).size;
}

describe.each(transports)("streams over %s", (kind) => {
  it("payload-only: the initial payload drives the output", async () => {
    pair = await makePair(kind);
    pair.rb.registerStream(1, async function* (payload) {
      const n = Number(text(payload!));
      for (let i = 0; i < n; i++) yield bytes(`m${i}`);
    });
    const s = await pair.a.newStream(1, bytes("3"));
    expect(s.requests).toBeUndefined();
    expect(await collect(s)).toEqual(["m0", "m1", "m2"]);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("output-only: no payload, more messages than the window, none lost (EOF in band)", async () => {
    pair = await makePair(kind);
    let sawPayload: unknown = "unset";
    pair.rb.registerStream(
      2,
      async function* (payload) {
        sawPayload = payload;
        for (let i = 0; i < 500; i++) yield bytes(String(i));
      },
      { outCapacity: 8 },
    );
    const s = await pair.a.newStream(2);
    const got = await collect(s);
    expect(sawPayload).toBeUndefined();
    expect(got).toHaveLength(500);
    expect(got[499]).toBe("499");
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("input+output: a bidirectional echo with credits both ways", async () => {
    pair = await makePair(kind);
    pair.rb.registerStream(
      3,
      async function* (_p, input) {
        for await (const m of input!) yield bytes(text(m).toUpperCase());
        yield bytes("done");
      },
      { inCapacity: 4, outCapacity: 4 },
    );
    const s = await pair.a.newStream(3);
    expect(s.requests).toBeDefined();
    const reading = collect(s);
    for (let i = 0; i < 1000; i++) await s.requests!.send(bytes(`x${i}`));
    s.requests!.close();
    const got = await reading;
    expect(got).toHaveLength(1001);
    expect(got[0]).toBe("X0");
    expect(got[999]).toBe("X999");
    expect(got[1000]).toBe("done");
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("a server error mid-stream arrives after the messages sent before it", async () => {
    pair = await makePair(kind);
    pair.rb.registerStream(4, async function* () {
      for (let i = 0; i < 5; i++) yield bytes(String(i));
      throw new Error("ran out of widgets");
    });
    const s = await pair.a.newStream(4);
    const got: string[] = [];
    const err = await (async () => {
      for await (const m of s.responses) got.push(text(m));
    })().catch((e: unknown) => e);
    expect(got).toEqual(["0", "1", "2", "3", "4"]);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as GridError).rawMessage).toBe("ran out of widgets");
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("client cancel is seen by the handler's ctx.signal, and its finally runs", async () => {
    pair = await makePair(kind);
    let reason: unknown;
    let cleaned = false;
    pair.rb.registerStream(5, async function* (_p, _in, ctx) {
      ctx.signal.addEventListener("abort", () => (reason = ctx.signal.reason));
      try {
        for (let i = 0; ; i++) {
          yield bytes(String(i));
          await sleep(1);
        }
      } finally {
        cleaned = true;
      }
    });
    const s = await pair.a.newStream(5);
    const got: string[] = [];
    for await (const m of s.responses) {
      got.push(text(m));
      if (got.length === 3) break; // break cancels the stream
    }
    await until(() => reason !== undefined && cleaned);
    expect(reason).toBeInstanceOf(AbortError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
    // Explicit cancel(): reading afterwards throws AbortError.
    const s2 = await pair.a.newStream(5);
    s2.cancel();
    await expect(collect(s2)).rejects.toBeInstanceOf(AbortError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("unknown stream handler rejects newStream with UnknownHandlerError", async () => {
    pair = await makePair(kind);
    pair.rb.registerSingle(6, (p) => p);
    await expect(pair.a.newStream(99)).rejects.toBeInstanceOf(UnknownHandlerError);
    await expect(pair.a.newStream(6)).rejects.toBeInstanceOf(UnknownHandlerError); // a single, not a stream
    expect(pair.a.stats.inFlight).toBe(0);
  });

  it("flow control: a producer 100x faster than its consumer never overfills the receiver", async () => {
    pair = await makePair(kind);
    const capacity = 16;
    let produced = 0;
    pair.rb.registerStream(
      7,
      async function* () {
        for (;;) {
          produced++;
          yield new Uint8Array(1024);
        }
      },
      { outCapacity: capacity },
    );
    const s = await pair.a.newStream(7);
    let consumed = 0;
    let maxQueued = 0;
    let maxAhead = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    for await (const _m of s.responses) {
      consumed++;
      maxQueued = Math.max(maxQueued, queued(s));
      maxAhead = Math.max(maxAhead, produced - consumed);
      await sleep(1); // the consumer: ~1 ms per message; the producer: microseconds
      if (consumed === 300) break;
    }
    expect(maxQueued).toBeLessThanOrEqual(capacity);
    // At most the window plus the message the generator holds at its yield.
    expect(maxAhead).toBeLessThanOrEqual(capacity + 2);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("flow control of the input: send() waits for the server's credits", async () => {
    pair = await makePair(kind);
    let read = 0;
    let maxInQueue = 0;
    pair.rb.registerStream(
      8,
      async function* (_p, input) {
        for await (const _m of input!) {
          read++;
          await sleep(1);
        }
        yield bytes(String(read));
      },
      { inCapacity: 8 },
    );
    const s = await pair.a.newStream(8);
    let sent = 0;
    let maxAhead = 0;
    for (let i = 0; i < 200; i++) {
      await s.requests!.send(new Uint8Array(512));
      sent++;
      maxAhead = Math.max(maxAhead, sent - read);
      maxInQueue = Math.max(maxInQueue, maxAhead);
    }
    s.requests!.close();
    expect(await collect(s)).toEqual(["200"]);
    // Sent but unread: at most the credits (plus one being read by the handler).
    expect(maxAhead).toBeLessThanOrEqual(8 + 1);
    expect(maxInQueue).toBeLessThanOrEqual(9);
  });

  it("an unread stream stalls only itself: 100 single requests still complete", async () => {
    pair = await makePair(kind);
    let produced = 0;
    pair.rb.registerStream(
      9,
      async function* () {
        for (;;) {
          produced++;
          yield new Uint8Array(4096);
        }
      },
      { outCapacity: 4 },
    );
    pair.rb.registerSingle(10, (p) => p);
    const s = await pair.a.newStream(9);
    await sleep(20);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => pair!.a.request(10, bytes(String(i)))));
    expect(answers.map(text)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    expect(produced).toBeLessThanOrEqual(4 + 1);
    s.cancel();
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("a stream deadline fails the caller and aborts the handler with DeadlineExceededError", async () => {
    pair = await makePair(kind);
    let reason: unknown;
    pair.rb.registerStream(11, async function* (_p, _i, ctx) {
      yield bytes("first");
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
    });
    const got: string[] = [];
    const err = await (async () => {
      const s = await pair!.a.newStream(11, undefined, { timeoutMs: 300 });
      for await (const m of s.responses) got.push(text(m));
    })().catch((e: unknown) => e);
    // (On a very loaded machine the deadline may even pass before the ack: same error.)
    expect(got.length).toBeLessThanOrEqual(1);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    await until(() => reason !== undefined);
    expect(reason).toBeInstanceOf(DeadlineExceededError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("connection loss fails every request and stream in both directions and empties the tables", async () => {
    pair = await makePair(kind);
    const { a, b, ra, rb } = pair;
    const aborted: unknown[] = [];
    const hang = async function* (_p: Uint8Array | undefined, _i: unknown, ctx: { signal: AbortSignal }) {
      yield bytes("hello");
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      aborted.push(ctx.signal.reason);
    };
    rb.registerStream(1, hang, { inCapacity: 2 });
    ra.registerStream(1, hang, { inCapacity: 2 });
    const pending = (_p: Uint8Array, ctx: { signal: AbortSignal }) =>
      new Promise<Uint8Array>((_r, rej) => ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.signal.reason);
        rej(ctx.signal.reason);
      }));
    rb.registerSingle(2, pending);
    ra.registerSingle(2, pending);
    const sa = await a.newStream(1);
    const sb = await b.newStream(1);
    const reqs = [a.request(2, bytes("x")), b.request(2, bytes("x"))].map((p) => p.catch((e: unknown) => e));
    const firstA = await sa.responses[Symbol.asyncIterator]().next();
    expect(text(firstA.value as Uint8Array)).toBe("hello");
    await until(() => a.stats.inFlight === 4 && b.stats.inFlight === 4);
    a.detach(new Error("network down"));
    for (const r of await Promise.all(reqs)) expect(r).toBeInstanceOf(DisconnectedError);
    await expect(collect(sa)).rejects.toBeInstanceOf(DisconnectedError);
    await expect(collect(sb)).rejects.toBeInstanceOf(DisconnectedError);
    await expect(sa.requests!.send(bytes("x"))).rejects.toBeInstanceOf(DisconnectedError);
    await until(() => aborted.length === 4, 1000).catch(() => { throw new Error(`aborted: ${aborted.length} ${String(aborted)}`); });
    for (const r of aborted) expect(r).toBeInstanceOf(DisconnectedError);
    expect(a.stats.inFlight).toBe(0);
    await until(() => b.stats.inFlight === 0);
  });
});

describe("stream edge cases", () => {
  it("sends queued without awaiting go out in order, and EOF travels after them", async () => {
    pair = await makePair("memory");
    pair.rb.registerStream(1, async function* (_p, input) {
      const got: string[] = [];
      for await (const m of input!) got.push(text(m));
      yield bytes(got.join(","));
    }, { inCapacity: 3 });
    const s = await pair.a.newStream(1);
    const sends = Array.from({ length: 50 }, (_, i) => s.requests!.send(bytes(String(i))));
    s.requests!.close(); // while 47 sends still wait for credits
    await Promise.all(sends);
    expect(await collect(s)).toEqual([Array.from({ length: 50 }, (_, i) => String(i)).join(",")]);
    await expect(s.requests!.send(bytes("late"))).rejects.toMatchObject({ code: "aborted" });
  });

  it("the server can cancel too: a handler throwing AbortError reaches the caller as AbortError", async () => {
    pair = await makePair("memory");
    pair.rb.registerStream(2, async function* () {
      yield bytes("a");
      throw new AbortError("server is shutting down this stream");
    });
    const s = await pair.a.newStream(2);
    const err = await collect(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as GridError).rawMessage).toBe("server is shutting down this stream");
  });

  it("input sends after the server ended are rejected; pending sends are rejected when the stream fails", async () => {
    pair = await makePair("memory");
    pair.rb.registerStream(3, async function* (_p, input) {
      const it = input![Symbol.asyncIterator]();
      await it.next();
      throw new Error("only one, thanks");
    }, { inCapacity: 1 });
    const s = await pair.a.newStream(3);
    await s.requests!.send(bytes("1"));
    const blocked = s.requests!.send(bytes("2")).catch((e: unknown) => e); // no credit yet
    const blocked2 = s.requests!.send(bytes("3")).catch((e: unknown) => e);
    await expect(collect(s)).rejects.toMatchObject({ code: "remote" });
    const results = await Promise.all([blocked, blocked2]);
    for (const r of results) if (r !== undefined) expect(r).toMatchObject({ code: "remote" });
    await expect(s.requests!.send(bytes("4"))).rejects.toMatchObject({ code: "remote" });
    expect(pair.a.stats.inFlight).toBe(0);
  });

  it("the caller's signal cancels a stream both while opening and while open", async () => {
    pair = await makePair("memory");
    let reason: unknown;
    pair.rb.registerStream(4, async function* (_p, _i, ctx) {
      yield bytes("x");
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
    });
    const ac = new AbortController();
    const s = await pair.a.newStream(4, undefined, { signal: ac.signal });
    ac.abort();
    await expect(collect(s)).rejects.toBeInstanceOf(AbortError);
    await until(() => reason !== undefined);
    expect(reason).toBeInstanceOf(AbortError);
    const ac2 = new AbortController();
    const opening = pair.a.newStream(4, undefined, { signal: ac2.signal });
    ac2.abort();
    await expect(opening).rejects.toBeInstanceOf(AbortError);
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });
});

describe("stream liveness", () => {
  it("a blocked long-lived stream stays alive through stream pings", async () => {
    pair = await makePair("memory", { streamPingIntervalMs: 30, streamTimeoutMs: 150 });
    pair.rb.registerStream(1, async function* () {
      for (let i = 0; ; i++) yield bytes(String(i));
    }, { outCapacity: 2 });
    const s = await pair.a.newStream(1);
    await sleep(500); // nobody reads: the server is blocked on credits the whole time
    const it = s.responses[Symbol.asyncIterator]();
    expect(text((await it.next()).value as Uint8Array)).toBe("0");
    expect(text((await it.next()).value as Uint8Array)).toBe("1");
    expect(text((await it.next()).value as Uint8Array)).toBe("2");
    s.cancel();
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });
});

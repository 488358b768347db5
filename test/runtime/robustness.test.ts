import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DisconnectedError, ProtocolError } from "../../runtime/errors.js";
import { encodeErrorPayload } from "../../runtime/protocol/error-payload.js";
import { Flag, Op, encodeFrame } from "../../runtime/protocol/frame.js";
import { bytes, makePair, sleep, text, until } from "./helpers.js";
import { frame, rawPeer } from "./raw-peer.js";

/** Valid frames a peer could send; mutated by the fuzzer. */
const validFrames: Uint8Array[] = [
  encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 1, deadlineMs: 1000, payload: bytes("hello") })),
  encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 2, subroute: "r1", payload: bytes("x") })),
  encodeFrame(frame({ op: Op.Ping, payload: new Uint8Array(8) })),
  encodeFrame(frame({ op: Op.Response, muxId: 9, flags: Flag.PayloadIsError, payload: encodeErrorPayload(new Error("e")) })),
  encodeFrame(frame({ op: Op.ConnectMux, handler: 2, muxId: 3, payload: bytes("p") })),
  encodeFrame(frame({ op: Op.MuxClientMsg, muxId: 3, seq: 0, payload: bytes("m") })),
  encodeFrame(frame({ op: Op.UnblockServerMux, muxId: 3, seq: 4 })),
  encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 5, flags: Flag.Checksum, payload: bytes("crc") })),
  (() => {
    // A Merged message of two requests.
    const a = encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 6, payload: bytes("a") }));
    const b = encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 7, payload: bytes("b") }));
    const inner = new Uint8Array(a.length + b.length);
    inner.set(a);
    inner.set(b, a.length);
    return encodeFrame(frame({ op: Op.Merged, seq: 2, payload: inner }));
  })(),
];

function registerEcho(peer: ReturnType<typeof rawPeer>): void {
  peer.registry.registerSingle(1, (p) => p);
  peer.registry.registerSingle(1, (p) => p, { subroute: "r1" });
  peer.registry.registerStream(2, async function* (_p, input) {
    for await (const m of input!) yield m;
  }, { inCapacity: 4 });
}

/** Sends `data` to a fresh connection and checks it either survives or drops cleanly. */
async function feed(data: Uint8Array): Promise<void> {
  const peer = rawPeer({ maxMessageBytes: 4096 });
  registerEcho(peer);
  peer.sendBytes(data);
  await sleep(0);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const state = peer.conn.state;
  expect(["connected", "disconnected"]).toContain(state);
  if (state === "disconnected") {
    const err = peer.logs.find((l) => l.level === "error");
    expect(err?.message).toMatch(/protocol error/);
    expect(typeof err?.fields?.["reason"]).toBe("string");
    expect(peer.conn.stats.inFlight).toBe(0);
  }
  peer.conn.close();
}

describe("malformed frames", () => {
  it("random bytes never crash the process; the connection drops with a ProtocolError or survives", async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 80 }), feed), { numRuns: 300 });
  });

  it("mutated valid frames are rejected cleanly", async () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...validFrames),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([base, flips, cut]) => {
        const out = base.slice();
        for (const [pos, value] of flips) out[pos % out.length] = value;
        return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
      });
    await fc.assert(fc.asyncProperty(mutated, feed), { numRuns: 400 });
  });

  it("a malformed frame drops only its connection: a healthy pair next to it is untouched", async () => {
    const healthy = await makePair("memory");
    healthy.rb.registerSingle(1, (p) => p);
    const calls = Array.from({ length: 200 }, (_, i) => healthy.a.request(1, bytes(String(i))));
    for (let i = 0; i < 20; i++) {
      const peer = rawPeer();
      peer.sendBytes(Uint8Array.of(99, 0, 0, 0)); // truncated header
      await until(() => peer.conn.state === "disconnected");
    }
    expect((await Promise.all(calls)).map(text)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    expect(healthy.a.state).toBe("connected");
    await healthy.close();
  });

  it.each([
    ["unknown op", () => { const b = encodeFrame(frame({ op: Op.Ping })); b[0] = 200; return b; }, /unknown op/],
    ["Connect after the handshake", () => encodeFrame(frame({ op: Op.Connect, payload: bytes("hi") })), /after the handshake/],
    ["bad error payload", () => {
      // A request in flight, then a cancel of it whose error payload is garbage.
      const r = encodeFrame(frame({ op: Op.Request, handler: 3, muxId: 1, payload: bytes("x") }));
      const c = encodeFrame(frame({ op: Op.DisconnectClientMux, muxId: 1, flags: Flag.PayloadIsError, payload: Uint8Array.of(50) }));
      const both = new Uint8Array(r.length + c.length);
      both.set(r);
      both.set(c, r.length);
      return encodeFrame(frame({ op: Op.Merged, seq: 2, payload: both }));
    }, /error payload/],
    ["request id reuse", () => {
      const r = encodeFrame(frame({ op: Op.Request, handler: 3, muxId: 1, payload: bytes("x") }));
      const both = new Uint8Array(r.length * 2);
      both.set(r);
      both.set(r, r.length);
      return encodeFrame(frame({ op: Op.Merged, seq: 2, payload: both }));
    }, /reuses mux id/],
    ["a call frame with mux id 0", () => encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 0, payload: bytes("x") })), /mux id 0/],
    ["oversize payload", () => encodeFrame(frame({ op: Op.Request, handler: 1, muxId: 1, payload: new Uint8Array(5000) })), /exceeds the limit/],
  ])("%s -> ProtocolError, connection dropped, reason logged", async (_name, make, reason) => {
    const peer = rawPeer({ maxMessageBytes: 4096 });
    peer.registry.registerSingle(3, () => new Promise(() => {}));
    const detached = new Promise<Error | undefined>((resolve) =>
      peer.conn.onStateChange((s, _p, why) => s === "disconnected" && resolve(why)),
    );
    peer.sendBytes(make());
    const why = await detached;
    expect(why).toBeInstanceOf(ProtocolError);
    expect(why!.message).toMatch(reason);
    expect(peer.logs.some((l) => l.level === "error" && reason.test(String(l.fields?.["reason"])))).toBe(true);
    expect(peer.conn.stats.inFlight).toBe(0);
    await until(() => peer.closed);
    peer.conn.close();
  });

  it("stray frames for unknown ids are dropped, never answered into the wrong table", async () => {
    const peer = rawPeer();
    peer.sendFrame({ op: Op.Response, muxId: 42, payload: bytes("late") });
    peer.sendFrame({ op: Op.MuxServerMsg, muxId: 43, payload: bytes("late") });
    peer.sendFrame({ op: Op.UnblockServerMux, muxId: 44, seq: 3 });
    peer.sendFrame({ op: Op.DisconnectClientMux, muxId: 45 });
    peer.sendFrame({ op: Op.Ping, muxId: 46 }); // stream ping for a stream we don't serve
    await until(() => peer.received.length > 0);
    await sleep(10);
    expect(peer.conn.state).toBe("connected");
    // Only the stream ping is answered, with an op that addresses the caller's (outgoing) table.
    expect(peer.received.map((f) => [f.op, f.muxId])).toEqual([[Op.DisconnectServerMux, 46]]);
    peer.conn.close();
  });
});

describe("stream-level faults", () => {
  it.each([
    ["messages beyond the credits granted", [0, 1, 2, 3, 4], /beyond its 2 credits/],
    ["a sequence gap", [0, 2], /out of sequence/],
  ])("%s fail only that stream, on both sides", async (_name, seqs, reason) => {
    const peer = rawPeer();
    let handlerError: unknown;
    peer.registry.registerStream(2, async function* (_p, input) {
      try {
        for await (const _m of input!) {
          await new Promise((r) => setTimeout(r, 50)); // a slow reader
        }
      } catch (err) {
        handlerError = err;
      }
    }, { inCapacity: 2 });
    peer.registry.registerSingle(1, (p) => p);
    peer.sendFrame({ op: Op.ConnectMux, handler: 2, muxId: 8 });
    for (const seq of seqs) peer.sendFrame({ op: Op.MuxClientMsg, muxId: 8, seq, payload: bytes("m") });
    await until(() => peer.received.some((f) => f.op === Op.DisconnectServerMux && f.muxId === 8));
    const stop = peer.received.find((f) => f.op === Op.DisconnectServerMux)!;
    expect(stop.flags & Flag.PayloadIsError).toBeTruthy();
    expect(text(stop.payload!)).toMatch(reason);
    await until(() => handlerError !== undefined);
    expect(handlerError).toBeInstanceOf(ProtocolError);
    // The connection and other calls are unaffected.
    expect(peer.conn.state).toBe("connected");
    peer.sendFrame({ op: Op.Request, handler: 1, muxId: 9, payload: bytes("still here") });
    await until(() => peer.received.some((f) => f.op === Op.Response && f.muxId === 9));
    expect(text(peer.received.find((f) => f.op === Op.Response)!.payload!)).toBe("still here");
    expect(peer.conn.stats.inFlight).toBe(0);
    peer.conn.close();
  });
});

describe("liveness", () => {
  it("a silent peer is torn down by the ping timeout; in-flight calls fail with DisconnectedError", async () => {
    const peer = rawPeer({ pingIntervalMs: 20, pingTimeoutMs: 80 });
    const started = Date.now();
    const call = peer.conn.request(1, bytes("x")).catch((e: unknown) => e);
    const err = await call;
    expect(err).toBeInstanceOf(DisconnectedError);
    expect((err as Error).message).toMatch(/ping timeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(peer.conn.state).toBe("disconnected");
    expect(peer.received.some((f) => f.op === Op.Ping && f.muxId === 0)).toBe(true);
    expect(peer.conn.stats.inFlight).toBe(0);
  });

  it("a peer that answers pings keeps the connection up", async () => {
    const peer = rawPeer({ pingIntervalMs: 20, pingTimeoutMs: 100 });
    peer.autoPong = true;
    await sleep(400);
    expect(peer.conn.state).toBe("connected");
    expect(peer.conn.stats.rttMs).toBeGreaterThanOrEqual(0);
    peer.conn.close();
  });

  it("a stream whose server stops answering stream pings fails on the caller's side", async () => {
    const peer = rawPeer({ pingIntervalMs: 10, pingTimeoutMs: 1000, streamPingIntervalMs: 40, streamTimeoutMs: 250 });
    peer.autoPong = true; // the connection stays alive; only the stream goes silent
    const opening = peer.conn.newStream(7);
    await until(() => peer.received.some((f) => f.op === Op.ConnectMux));
    const id = peer.received.find((f) => f.op === Op.ConnectMux)!.muxId;
    const ack = new Uint8Array(8);
    new DataView(ack.buffer).setUint32(4, 4, true);
    peer.sendFrame({ op: Op.AckMux, muxId: id, payload: ack });
    const s = await opening;
    const err = await (async () => {
      for await (const _m of s.responses) {
        // nothing arrives
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DisconnectedError);
    expect((err as Error).message).toMatch(/no answer/);
    expect(peer.received.some((f) => f.op === Op.Ping && f.muxId === id)).toBe(true);
    await until(() => peer.received.some((f) => f.op === Op.DisconnectClientMux && f.muxId === id));
    expect(peer.conn.state).toBe("connected");
    expect(peer.conn.stats.inFlight).toBe(0);
    peer.conn.close();
  });

  it("a stream whose caller stops pinging is failed on the server's side", async () => {
    const peer = rawPeer({ pingIntervalMs: 10, pingTimeoutMs: 1000, streamPingIntervalMs: 40, streamTimeoutMs: 250 });
    peer.autoPong = true;
    let reason: unknown;
    peer.registry.registerStream(2, async function* (_p, _i, ctx) {
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      reason = ctx.signal.reason;
    });
    peer.sendFrame({ op: Op.ConnectMux, handler: 2, muxId: 5 });
    await until(() => reason !== undefined, 2000);
    expect(reason).toBeInstanceOf(DisconnectedError);
    expect(peer.received.some((f) => f.op === Op.AckMux && f.muxId === 5)).toBe(true);
    await until(() => peer.received.some((f) => f.op === Op.DisconnectServerMux && f.muxId === 5));
    expect(peer.conn.state).toBe("connected");
    expect(peer.conn.stats.inFlight).toBe(0);
    peer.conn.close();
  });
});

/**
 * The frame/mux-level rules of #9, fast and in memory (test/adversarial/ runs the same
 * attacks over real sockets against a separate process): credits never exceed the capacity,
 * stream faults are counted per link, caps answer resource_exhausted, oversize pings and
 * broken Merged frames are protocol errors, producers yield to the event loop.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decodeErrorPayload } from "../../runtime/protocol/error-payload.js";
import { Flag, MAX_MERGED_FRAMES, Op, decodeMessage, emptyFrame, encodeFrame } from "../../runtime/protocol/frame.js";
import { makePair, sleep, until, type Pair } from "./helpers.js";
import { frame, rawPeer, type RawPeer } from "./raw-peer.js";

let peer: RawPeer | undefined;
let pair: Pair | undefined;
afterEach(async () => {
  peer?.conn.close();
  peer = undefined;
  await pair?.close();
  pair = undefined;
});

const ack = (inCap: number, outCap: number): Uint8Array => {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setUint32(0, inCap, true);
  new DataView(p.buffer).setUint32(4, outCap, true);
  return p;
};

function merged(frames: Uint8Array[], muxId = 0, count = frames.length): Uint8Array {
  const inner = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let off = 0;
  for (const f of frames) {
    inner.set(f, off);
    off += f.byteLength;
  }
  return encodeFrame(frame({ op: Op.Merged, muxId, seq: count, payload: inner }));
}

const errorOf = (p: RawPeer, op: Op, muxId: number) => {
  const f = p.received.find((r) => r.op === op && r.muxId === muxId);
  return f === undefined ? undefined : decodeErrorPayload(f.payload);
};

describe("credits beyond the capacity", () => {
  it("fail the server's stream with a protocol error (a grant of 2^32-1)", async () => {
    peer = rawPeer();
    peer.registry.registerStream(3, async function* () {
      for (;;) yield new Uint8Array(1);
    }, { outCapacity: 4 });
    peer.sendFrame({ op: Op.ConnectMux, muxId: 1, handler: 3 });
    await until(() => peer!.received.some((f) => f.op === Op.AckMux));
    peer.sendFrame({ op: Op.UnblockServerMux, muxId: 1, seq: 0xffff_ffff });
    await until(() => errorOf(peer!, Op.DisconnectServerMux, 1) !== undefined);
    expect(errorOf(peer, Op.DisconnectServerMux, 1)?.message).toMatch(/beyond the capacity of 4/);
    expect(peer.received.filter((f) => f.op === Op.MuxServerMsg).length).toBeLessThanOrEqual(4);
    expect(peer.conn.state).toBe("connected");
  });

  it("a grant that fits the capacity is honoured", async () => {
    peer = rawPeer();
    peer.registry.registerStream(3, async function* () {
      for (let i = 0; i < 6; i++) yield new Uint8Array(1);
    }, { outCapacity: 4 });
    peer.sendFrame({ op: Op.ConnectMux, muxId: 1, handler: 3 });
    await until(() => peer!.received.filter((f) => f.op === Op.MuxServerMsg).length === 4);
    peer.sendFrame({ op: Op.UnblockServerMux, muxId: 1, seq: 4 });
    await until(() => peer!.received.some((f) => f.op === Op.MuxServerMsg && (f.flags & Flag.EOF) !== 0));
    expect(peer.received.some((f) => f.op === Op.DisconnectServerMux)).toBe(false);
  });

  it("fail the caller's input stream with a protocol error", async () => {
    peer = rawPeer();
    const opening = peer.conn.newStream(7);
    await until(() => peer!.received.some((f) => f.op === Op.ConnectMux));
    const muxId = peer.received.find((f) => f.op === Op.ConnectMux)!.muxId;
    peer.sendFrame({ op: Op.AckMux, muxId, payload: ack(2, 2) });
    const stream = await opening;
    peer.sendFrame({ op: Op.UnblockClientMux, muxId, seq: 1 });
    await until(() => errorOf(peer!, Op.DisconnectClientMux, muxId) !== undefined);
    expect(errorOf(peer, Op.DisconnectClientMux, muxId)?.code).toBe("protocol");
    await expect(stream.requests!.send(new Uint8Array(1))).rejects.toThrow(/beyond the capacity of 2/);
  });

  it("a peer that keeps faulting streams loses the link after maxStreamFaults", async () => {
    peer = rawPeer({ maxStreamFaults: 3 });
    peer.registry.registerStream(3, async function* () {
      for (;;) yield new Uint8Array(1);
    }, { outCapacity: 1 });
    for (let id = 1; id <= 3; id++) {
      peer.sendFrame({ op: Op.ConnectMux, muxId: id, handler: 3 });
      peer.sendFrame({ op: Op.UnblockServerMux, muxId: id, seq: 100 });
    }
    await until(() => peer!.received.filter((f) => f.op === Op.DisconnectServerMux).length === 3);
    expect(peer.conn.state).toBe("connected");
    peer.sendFrame({ op: Op.ConnectMux, muxId: 4, handler: 3 });
    peer.sendFrame({ op: Op.UnblockServerMux, muxId: 4, seq: 100 });
    await until(() => peer!.conn.state === "disconnected");
    expect(peer.logs.some((l) => /4 stream protocol faults/.test(String(l.fields?.reason)))).toBe(true);
  });
});

describe("producers yield to the event loop", () => {
  it("a generator yielding from memory with 65,536 credits lets the event loop turn", async () => {
    // A backlog bound far above the window: only the yield can break the producer's run.
    pair = await makePair("memory", { maxQueuedBytes: 1 << 30 });
    pair.rb.registerStream(1, async function* () {
      const m = new Uint8Array(1024);
      for (let i = 0; i < 65_536; i++) yield m;
    }, { outCapacity: 65_536 });
    const stream = await pair.a.newStream(1);
    // Counts turns of the event loop while the stream runs (independent of machine load).
    let turns = 0;
    let counting = true;
    const turn = (): void => {
      turns++;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    let n = 0;
    for await (const _ of stream.responses) n++;
    counting = false;
    expect(n).toBe(65_536);
    // Yielding every 128 messages (streamYieldMessages) gives the loop at least 65,536 / 128 =
    // 512 turns; without the yield the whole window ran in a handful of microtask runs.
    console.log(`[hardening] event-loop turns during a 65,536-message window: ${turns}`);
    expect(turns).toBeGreaterThan(256);
  });
});

describe("per-peer caps", () => {
  it("answer resource_exhausted beyond maxIncomingCalls and maxIncomingStreams", async () => {
    peer = rawPeer({ maxIncomingCalls: 2, maxIncomingStreams: 1 });
    peer.registry.registerSingle(1, () => new Promise<Uint8Array>(() => {}));
    peer.registry.registerStream(2, async function* () {
      await new Promise(() => {});
    });
    for (let id = 1; id <= 3; id++) peer.sendFrame({ op: Op.Request, muxId: id, handler: 1 });
    peer.sendFrame({ op: Op.ConnectMux, muxId: 10, handler: 2 });
    peer.sendFrame({ op: Op.ConnectMux, muxId: 11, handler: 2 });
    await until(() => errorOf(peer!, Op.Response, 3) !== undefined && errorOf(peer!, Op.MuxConnectError, 11) !== undefined);
    expect(errorOf(peer, Op.Response, 3)?.code).toBe("resource_exhausted");
    expect(errorOf(peer, Op.MuxConnectError, 11)?.code).toBe("resource_exhausted");
    expect(peer.received.some((f) => f.op === Op.Response && f.muxId !== 3)).toBe(false);
    // A call that ends frees its place.
    peer.sendFrame({ op: Op.DisconnectClientMux, muxId: 1 });
    peer.sendFrame({ op: Op.Request, muxId: 4, handler: 1 });
    await sleep(20);
    expect(errorOf(peer, Op.Response, 4)).toBeUndefined();
  });
});

describe("the byte budget of requests being served", () => {
  it("answers resource_exhausted beyond maxIncomingBytes, admits one request alone, and frees bytes as calls end", async () => {
    peer = rawPeer({ maxIncomingBytes: 1000 });
    peer.registry.registerSingle(1, () => new Promise<Uint8Array>(() => {}));
    peer.sendFrame({ op: Op.Request, muxId: 1, handler: 1, payload: new Uint8Array(1500) }); // alone: admitted
    peer.sendFrame({ op: Op.Request, muxId: 2, handler: 1, payload: new Uint8Array(10) }); // 1510 > 1000: refused
    await until(() => errorOf(peer!, Op.Response, 2) !== undefined);
    expect(errorOf(peer, Op.Response, 2)?.code).toBe("resource_exhausted");
    expect(errorOf(peer, Op.Response, 2)?.message).toMatch(/maxIncomingBytes/);
    expect(errorOf(peer, Op.Response, 1)).toBeUndefined();
    peer.sendFrame({ op: Op.DisconnectClientMux, muxId: 1 }); // frees its 1500 bytes
    peer.sendFrame({ op: Op.Request, muxId: 3, handler: 1, payload: new Uint8Array(600) });
    peer.sendFrame({ op: Op.Request, muxId: 4, handler: 1, payload: new Uint8Array(400) }); // 1000: fits
    peer.sendFrame({ op: Op.Request, muxId: 5, handler: 1, payload: new Uint8Array(1) }); // 1001: refused
    await until(() => errorOf(peer!, Op.Response, 5) !== undefined);
    expect(errorOf(peer, Op.Response, 3)).toBeUndefined();
    expect(errorOf(peer, Op.Response, 4)).toBeUndefined();
  });
});

describe("frames the protocol forbids", () => {
  const dropped = async (p: RawPeer, reason: RegExp): Promise<void> => {
    await until(() => p.conn.state === "disconnected");
    expect(p.logs.some((l) => reason.test(String(l.fields?.reason)))).toBe(true);
  };

  it("a Ping payload above 64 bytes", async () => {
    peer = rawPeer();
    peer.sendFrame({ op: Op.Ping, payload: new Uint8Array(8) });
    await until(() => peer!.received.some((f) => f.op === Op.Pong));
    peer.sendFrame({ op: Op.Ping, payload: new Uint8Array(65) });
    await dropped(peer, /Ping payload of 65 bytes/);
    expect(peer.received.filter((f) => f.op === Op.Pong)).toHaveLength(1);
  });

  it("a Merged frame with a mux id", async () => {
    peer = rawPeer();
    peer.sendBytes(merged([encodeFrame(frame({ op: Op.Ping, payload: new Uint8Array(8) }))], 5));
    await dropped(peer, /Merged frame with mux id 5/);
  });

  it("a Merged frame declaring more than 1024 frames, before any is decoded", async () => {
    peer = rawPeer();
    const ping = encodeFrame(frame({ op: Op.Ping, payload: new Uint8Array(8) }));
    peer.sendBytes(merged(Array.from({ length: MAX_MERGED_FRAMES + 1 }, () => ping)));
    await dropped(peer, /more than the limit of 1024/);
    expect(peer.received.some((f) => f.op === Op.Pong)).toBe(false);
  });

  it("a Merged frame wrapping Connect or ConnectResponse", () => {
    for (const op of [Op.Connect, Op.ConnectResponse]) {
      const m = merged([encodeFrame(frame({ op, payload: new Uint8Array(1) }))]);
      expect(() => decodeMessage(m, { maxPayloadBytes: 1024 }, emptyFrame(), () => {})).toThrow(/Merged frame wraps/);
    }
  });
});

describe("the ping stall rule", () => {
  // The ping check, driven by hand (its timer stopped) with its clock fields set as a late
  // or an on-time timer would find them: pingTimeoutMs 2000, so the check period is 500 ms.
  function lateCheck(p: RawPeer, lateByMs: number, silentMs: number): void {
    const conn = p.conn as unknown as object;
    (Reflect.get(conn, "stopPings") as () => void).call(conn);
    const now = performance.now();
    Reflect.set(conn, "lastPingCheck", now - 500 - lateByMs);
    Reflect.set(conn, "lastReceived", now - silentMs);
    Reflect.set(conn, "heard", false);
    (Reflect.get(conn, "checkPing") as () => void)();
  }

  it("a check half a period late does not count the stall as the peer's silence", async () => {
    peer = rawPeer({ pingIntervalMs: 1000, pingTimeoutMs: 2000 });
    // 1.6 s of real silence, then a 450 ms stall: 2.05 s since the last frame, under 2 s of it the peer's.
    lateCheck(peer, 450, 2050);
    await sleep(20);
    expect(peer.conn.state).toBe("connected");
  });

  it("a timeout verdict waits for the poll phase: a frame already arrived saves the link", async () => {
    peer = rawPeer({ pingIntervalMs: 1000, pingTimeoutMs: 2000 });
    // The peer's frame is in flight (delivered in the next check phase), unread when the check runs.
    peer.sendFrame({ op: Op.Pong, payload: new Uint8Array(8) });
    lateCheck(peer, 0, 2500);
    await sleep(20);
    expect(peer.conn.state).toBe("connected");
  });

  it("a peer that stays silent is still dropped", async () => {
    peer = rawPeer({ pingIntervalMs: 1000, pingTimeoutMs: 2000 });
    lateCheck(peer, 0, 2500);
    await until(() => peer!.conn.state === "disconnected", 1000);
    expect(peer.logs.some((l) => l.message === "peer silent, dropping the connection")).toBe(true);
  });
});

describe("options", () => {
  it("reject maxMergeFrames above the protocol's limit", async () => {
    await expect(makePair("memory", { maxMergeFrames: MAX_MERGED_FRAMES + 1 })).rejects.toThrow(/at most 1024/);
  });
});


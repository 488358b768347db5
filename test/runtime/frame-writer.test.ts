import { describe, expect, it, vi } from "vitest";
import { DisconnectedError } from "../../runtime/errors.js";
import { DEFAULT_CONNECTION_OPTIONS } from "../../runtime/connection/options.js";
import { FrameWriter } from "../../runtime/mux/frame-writer.js";
import { beginReadTurn, readTurnOpen } from "../../runtime/mux/read-turn.js";
import type { RoomWaiter } from "../../runtime/mux/frame-writer.js";
import { Op, decodeMessage, emptyFrame } from "../../runtime/protocol/frame.js";
import type { Frame } from "../../runtime/protocol/frame.js";
import type { MessageTransport, TransportHandlers } from "../../runtime/transport/message-transport.js";
import { bytes, makePair, sleep, until } from "./helpers.js";
import { rawPeer } from "./raw-peer.js";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { wsTransport } from "../../runtime/transport/ws-transport.js";

class FakeTransport implements MessageTransport {
  sent: Uint8Array[] = [];
  bufferedAmount = 0;
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  setHandlers(_h: TransportHandlers): void {}
  close(): void {}
  terminate(): void {}
}

const f = (muxId: number, payload?: Uint8Array): Frame => ({ ...emptyFrame(), op: Op.Response, muxId, payload });
const msg = (muxId: number): Frame => ({ ...emptyFrame(), op: Op.MuxServerMsg, muxId, payload: bytes("m") });

function framesOf(message: Uint8Array): Frame[] {
  const out: Frame[] = [];
  decodeMessage(message, { maxPayloadBytes: 1 << 24 }, emptyFrame(), (fr) => out.push({ ...fr }));
  return out;
}

const opts = { maxQueuedBytes: 1000, maxMergeBytes: 4096, checksum: false, roomPollMs: 1, onError: (err: unknown) => { throw err; } };

describe("FrameWriter", () => {
  it("sends a lone frame alone, before the event loop turns", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    w.write(f(1, bytes("x")));
    expect(t.sent).toHaveLength(0); // not synchronously: later frames of this tick may join
    await Promise.resolve();
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]![0]).toBe(Op.Response); // not wrapped in Merged
  });

  it("merges frames queued in the same tick into one message, in order, capped by maxMergeBytes", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    for (let i = 1; i <= 100; i++) w.write(f(i, new Uint8Array(10)));
    await Promise.resolve();
    // 100 frames of 30 bytes = 3000 bytes: one Merged message.
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]![0]).toBe(Op.Merged);
    expect(framesOf(t.sent[0]!).map((x) => x.muxId)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    t.sent = [];
    await new Promise((r) => setImmediate(r)); // let the writer leave its burst
    for (let i = 1; i <= 300; i++) w.write(f(i, new Uint8Array(10)));
    w.write(f(301, new Uint8Array(5000))); // bigger than maxMergeBytes: alone
    await Promise.resolve();
    expect(t.sent.length).toBe(4);
    for (const m of t.sent) expect(m.byteLength).toBeLessThanOrEqual(4096 + 20 + 20 + 5000);
    expect(t.sent.flatMap(framesOf).map((x) => x.muxId)).toEqual(Array.from({ length: 301 }, (_, i) => i + 1));
    expect(w.counters.framesOut).toBe(401);
  });

  it("after a flush, frames queued one microtask at a time (a stream's yields) merge at the check phase", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    w.write(msg(1));
    for (let i = 2; i <= 50; i++) {
      await Promise.resolve();
      w.write(msg(i));
    }
    expect(t.sent).toHaveLength(1); // the first frame went out at once, alone
    await new Promise((r) => setImmediate(r));
    expect(t.sent).toHaveLength(2);
    expect(framesOf(t.sent[1]!).map((x) => x.muxId)).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
    // A quiet turn later, a lone frame goes out at once again.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    w.write(f(99));
    await Promise.resolve();
    expect(t.sent).toHaveLength(3);
  });

  it("a lone frame after each received message arms no immediate; a second flush since then starts a burst", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    // 1 in flight: every answer goes out at once, and no check-phase flush is pending after it.
    for (let i = 1; i <= 3; i++) {
      w.write(f(i));
      w.flushUnlessBurst(); // the received message was handled
      expect(t.sent).toHaveLength(i);
      w.write(f(100 + i));
      await Promise.resolve();
      expect(t.sent).toHaveLength(i + 1); // not held for a burst
      t.sent.pop();
      w.flushUnlessBurst();
    }
    // Without a received message in between, answers one microtask apart (async handlers)
    // go: the first alone, the second alone (it starts the burst), the rest at the check phase.
    w.write(f(1));
    for (let i = 2; i <= 20; i++) {
      await Promise.resolve();
      w.write(f(i));
    }
    await new Promise((r) => setImmediate(r));
    expect(t.sent.length - 3).toBe(3);
    expect(t.sent.slice(3).flatMap(framesOf).map((x) => x.muxId)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("makes new calls wait when the backlog is over maxQueuedBytes, FIFO; cancelled waiters are skipped", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    t.bufferedAmount = 5000;
    expect(w.hasRoom()).toBe(false);
    const order: number[] = [];
    const mk = (n: number): RoomWaiter => ({ waitingForRoom: false, onRoom: () => order.push(n) });
    const w1 = mk(1);
    const w2 = mk(2);
    const w3 = mk(3);
    w.waitForRoom(w1);
    w.waitForRoom(w2);
    w.waitForRoom(w3);
    w2.waitingForRoom = false; // gave up (cancelled)
    // Control frames never wait.
    w.write(f(9));
    await Promise.resolve();
    expect(t.sent).toHaveLength(1);
    await sleep(10);
    expect(order).toEqual([]);
    t.bufferedAmount = 0;
    await until(() => order.length === 2);
    expect(order).toEqual([1, 3]);
    expect(w.hasRoom()).toBe(true);
  });

  it("drops queued frames and waiters on detach", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    w.write(f(1));
    const waiter: RoomWaiter = { waitingForRoom: false, onRoom: () => expect.fail("must not run") };
    t.bufferedAmount = 1e6;
    w.waitForRoom(waiter);
    w.detach();
    expect(waiter.waitingForRoom).toBe(false);
    await sleep(5);
    expect(t.sent).toHaveLength(0);
  });
});

describe("the read turn (frames caused by received messages flush at the check phase, per connection)", () => {
  const nextImmediate = (): Promise<void> => new Promise((r) => setImmediate(r));

  it("holds frames queued on several connections until the check phase, then sends one message per connection", async () => {
    const t1 = new FakeTransport();
    const t2 = new FakeTransport();
    const w1 = new FrameWriter(opts);
    const w2 = new FrameWriter(opts);
    w1.attach(t1);
    w2.attach(t2);
    beginReadTurn(); // a message arrived on link 1
    expect(readTurnOpen()).toBe(true);
    w1.write(f(1)); // the answer to it
    w1.flushUnlessBurst(); // the message was handled: outside a read turn this would send
    await Promise.resolve();
    w2.write(f(2)); // a caller resolved by it starts a call to peer 2...
    w1.write(f(3)); // ...and another to peer 1
    beginReadTurn(); // a message from peer 2 in the same poll phase
    w2.write(f(4));
    w2.flushUnlessBurst();
    await Promise.resolve();
    await Promise.resolve();
    expect(t1.sent).toHaveLength(0);
    expect(t2.sent).toHaveLength(0);
    await nextImmediate();
    expect(readTurnOpen()).toBe(false);
    expect(t1.sent.map((m) => framesOf(m).map((x) => x.muxId))).toEqual([[1, 3]]);
    expect(t2.sent.map((m) => framesOf(m).map((x) => x.muxId))).toEqual([[2, 4]]);
    // After the turn, a lone frame goes out at the end of its microtask run again.
    await nextImmediate(); // the writers leave the burst their flush may have started
    t1.sent = [];
    w1.write(f(5));
    await Promise.resolve();
    expect(t1.sent).toHaveLength(1);
  });

  it("sends a full message (maxMergeFrames frames or maxMergeBytes) without waiting for the end of the turn", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter({ ...opts, maxMergeFrames: 4 });
    w.attach(t);
    beginReadTurn();
    for (let i = 1; i <= 3; i++) w.write(f(i));
    w.flushUnlessBurst();
    expect(t.sent).toHaveLength(0); // 3 frames: not full, they wait
    w.write(f(4));
    w.flushUnlessBurst(); // full: the answers to a big received message go at once
    expect(t.sent.map((m) => framesOf(m).map((x) => x.muxId))).toEqual([[1, 2, 3, 4]]);
    await Promise.resolve(); // the microtask flush the fourth frame queued finds nothing left
    expect(t.sent).toHaveLength(1);
    // Callers resolved later in the turn: three frames wait; the fourth makes a full message,
    // and the queue goes at the end of the microtask run (not at the check phase).
    for (let i = 5; i <= 7; i++) w.write(f(i));
    await Promise.resolve();
    expect(t.sent).toHaveLength(1);
    for (let i = 8; i <= 9; i++) w.write(f(i));
    await Promise.resolve();
    expect(t.sent.map((m) => framesOf(m).map((x) => x.muxId))).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
    await nextImmediate();
    expect(t.sent).toHaveLength(3);
    // Bytes count too: one frame over maxMergeBytes goes at once.
    await nextImmediate();
    t.sent = [];
    beginReadTurn();
    w.write(f(10, new Uint8Array(5000)));
    w.flushUnlessBurst();
    expect(t.sent).toHaveLength(1);
    await nextImmediate();
  });

  it("ends on the real check phase: fake timers (vi.useFakeTimers) do not hold answers to real I/O", async () => {
    const pair = await makePair("ws");
    pair.rb.registerSingle(1, (p) => p);
    await pair.a.request(1, new Uint8Array(4));
    const realSetTimeout = globalThis.setTimeout;
    vi.useFakeTimers();
    try {
      const outcome = await Promise.race([
        pair.a.request(1, new Uint8Array(4)).then(() => "answered"),
        new Promise((resolve) => realSetTimeout(() => resolve("held"), 2000)),
      ]);
      expect(outcome).toBe("answered");
    } finally {
      vi.useRealTimers();
    }
    await pair.close();
  });

  it("over ws, the answer to a received call and the call started on a received answer leave in one message", async () => {
    const pair = await makePair("ws");
    let release: (() => void) | undefined;
    pair.rb.registerSingle(1, (p) => new Promise<Uint8Array>((resolve) => (release = () => resolve(p)))); // b answers when told
    pair.ra.registerSingle(2, (p) => p); // a answers at once
    pair.rb.registerSingle(3, (p) => p);
    await pair.a.request(3, new Uint8Array(1)); // warm both ways
    await until(() => true);
    let started: Promise<Uint8Array> | undefined;
    const y = pair.a.request(1, new Uint8Array(8)).then(() => {
      started = pair.a.request(3, new Uint8Array(8)); // a's caller, resolved, calls again
    });
    await until(() => release !== undefined);
    await new Promise((r) => setImmediate(r));
    const aBefore = pair.a.stats.messagesOut;
    const bBefore = pair.b.stats.messagesOut;
    // b, in one tick: the answer to a's call and a call of its own (one message to a).
    release!();
    const x = pair.b.request(2, new Uint8Array(8));
    await Promise.all([x, y]);
    await started;
    expect(pair.b.stats.messagesOut - bBefore).toBe(2); // [answer, call], then the answer to a's new call
    // a read [answer, call]: its answer to b and its caller's new call share one message
    // (flushing after each received message sent them apart: 2).
    expect(pair.a.stats.messagesOut - aBefore).toBe(1);
    await pair.close();
  });
});

describe("corking a stream's burst", () => {
  class CorkTransport extends FakeTransport {
    log: string[] = [];
    corked = 0;
    override send(data: Uint8Array): void {
      super.send(data);
      this.log.push(this.corked > 0 ? "send(corked)" : "send");
    }
    cork(): void {
      this.corked++;
      this.log.push("cork");
    }
    uncork(): void {
      this.corked--;
      this.log.push("uncork");
    }
  }
  const frames = (t: FakeTransport) => t.sent.flatMap(framesOf).map((x) => x.muxId);
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it("a flush of more stream frames than one message holds goes out corked: one socket write for all its messages", async () => {
    const t = new CorkTransport();
    const w = new FrameWriter({ ...opts, maxQueuedBytes: 1 << 20, maxMergeFrames: 32 });
    w.attach(t);
    for (let i = 1; i <= 100; i++) w.write(msg(i));
    await Promise.resolve();
    expect(t.log).toEqual(["cork", "send(corked)", "send(corked)", "send(corked)", "send(corked)", "uncork"]);
    expect(frames(t)).toEqual(ids(100));
  });

  it("a stream flush that fits one message, and single-request frames, are not corked", async () => {
    const t = new CorkTransport();
    const w = new FrameWriter({ ...opts, maxQueuedBytes: 1 << 20, maxMergeFrames: 32 });
    w.attach(t);
    for (let i = 1; i <= 32; i++) w.write(msg(i));
    await Promise.resolve();
    expect(t.log).toEqual(["send"]);
    await new Promise((r) => setImmediate(r)); // let the writer leave its burst
    t.log = [];
    t.sent = [];
    for (let i = 1; i <= 100; i++) w.write(f(i, new Uint8Array(10)));
    await Promise.resolve();
    expect(t.log).toEqual(["send", "send", "send", "send"]);
    expect(frames(t)).toEqual(ids(100));
  });

  it("over ws: corked messages reach the peer only at uncork, whole and in order", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await new Promise((r) => wss.once("listening", r));
    const accepted = new Promise<WebSocket>((r) => wss.once("connection", r));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
    await new Promise((r) => client.once("open", r));
    const server = await accepted;
    try {
      const got: number[][] = [];
      const ts = wsTransport(server);
      ts.setHandlers({ onMessage: (d) => got.push([...d]), onClose: () => {} });
      const tc = wsTransport(client);
      tc.cork!();
      tc.send(Uint8Array.of(1));
      tc.send(Uint8Array.of(2, 2));
      tc.send(new Uint8Array(3000).fill(3));
      await sleep(50);
      expect(got).toEqual([]); // held by the cork
      tc.uncork!();
      await until(() => got.length === 3);
      expect(got[0]).toEqual([1]);
      expect(got[1]).toEqual([2, 2]);
      expect(got[2]).toEqual(new Array(3000).fill(3));
    } finally {
      client.terminate();
      server.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});

describe("bounded outgoing queue on a connection", () => {
  it("requests wait for room; a cancel or close never waits, and waiting calls leave no entries", async () => {
    const peer = rawPeer({ maxQueuedBytes: 100, roomPollMs: 1 });
    const transport = (peer.conn as unknown as { transport: { bufferedAmount: number } }).transport;
    // Pretend the socket is backed up.
    Object.defineProperty(transport, "bufferedAmount", { get: () => backlog, configurable: true });
    let backlog = 10_000;
    const ac = new AbortController();
    const waiting = peer.conn.request(1, bytes("x"), { signal: ac.signal }).catch((e: unknown) => e);
    const waiting2 = peer.conn.request(1, bytes("y")).catch((e: unknown) => e);
    await sleep(10);
    expect(peer.received.filter((x) => x.op === Op.Request)).toHaveLength(0);
    ac.abort();
    expect(await waiting).toMatchObject({ code: "aborted" });
    await sleep(5);
    // The cancelled call never went out, so no cancel frame either.
    expect(peer.received.filter((x) => x.op === Op.DisconnectClientMux)).toHaveLength(0);
    backlog = 0;
    await until(() => peer.received.some((x) => x.op === Op.Request));
    expect(peer.received.filter((x) => x.op === Op.Request)).toHaveLength(1);
    backlog = 10_000;
    const stuck = peer.conn.request(1, bytes("z")).catch((e: unknown) => e);
    peer.conn.close(); // never waits for room
    expect(await stuck).toBeInstanceOf(DisconnectedError);
    expect(await waiting2).toBeInstanceOf(DisconnectedError);
    expect(peer.conn.stats.inFlight).toBe(0);
  });

  it("merges a burst of calls into few transport messages over ws, maxMergeFrames each", async () => {
    const pair = await makePair("ws");
    pair.rb.registerSingle(1, (p) => p);
    const before = pair.a.stats.messagesOut;
    await Promise.all(Array.from({ length: 128 }, () => pair.a.request(1, new Uint8Array(32))));
    expect(pair.a.stats.messagesOut - before).toBe(128 / DEFAULT_CONNECTION_OPTIONS.maxMergeFrames);
    await pair.close();
  });

  it("keeps its queue arrays across small flushes but drops them after a big burst", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter({ ...opts, maxQueuedBytes: 1 << 20, maxMergeBytes: 1 << 20 });
    w.attach(t);
    const arrays = (): number => {
      const q = w as unknown as { queue: { meta: unknown[] }; spare: { meta: unknown[] } };
      return q.queue.meta.length + q.spare.meta.length;
    };
    for (let i = 1; i <= 10; i++) w.write(f(i));
    await Promise.resolve();
    expect(arrays()).toBeGreaterThan(0); // reused: no regrowth on the next flush
    for (let i = 1; i <= 5000; i++) w.write(f(i));
    w.flush();
    expect(t.sent.flatMap(framesOf)).toHaveLength(5010);
    expect(arrays()).toBeLessThan(5000); // the 5000-frame arrays are not pinned
  });

  it("caps the frames of one message at maxMergeFrames", async () => {
    const t = new FakeTransport();
    const w = new FrameWriter({ ...opts, maxMergeFrames: 7 });
    w.attach(t);
    for (let i = 1; i <= 20; i++) w.write(f(i, new Uint8Array(1)));
    await Promise.resolve();
    expect(t.sent.map((m) => framesOf(m).length)).toEqual([7, 7, 6]);
    expect(t.sent.flatMap(framesOf).map((x) => x.muxId)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

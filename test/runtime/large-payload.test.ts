/**
 * Large payloads go without a copy: a frame whose payload is ZERO_COPY_MIN_BYTES or more is
 * sent as the parts [head, payload(, crc)] of one message (a WebSocket fragment each) and
 * decoded from those parts, its payload handed on as the received fragment itself.
 */
import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../runtime/errors.js";
import { FrameWriter, ZERO_COPY_MIN_BYTES } from "../../runtime/mux/frame-writer.js";
import {
  Flag,
  Op,
  decodeParts,
  emptyFrame,
  encodeFieldsInto,
  encodeParts,
  encodeSubroute,
  frameSize,
  type Frame,
} from "../../runtime/protocol/frame.js";
import type { MessageTransport, TransportHandlers } from "../../runtime/transport/message-transport.js";
import { wsTransport } from "../../runtime/transport/ws-transport.js";
import { connectWS } from "../../runtime/transport/connect-ws.js";
import { Connection } from "../../runtime/connection/connection.js";
import { HandlerRegistry } from "../../runtime/handlers/handler-registry.js";
import { silentLogger } from "../../runtime/logger.js";
import { loopbackWss, makePair, transports, until, wsPair } from "./helpers.js";

const limits = { maxPayloadBytes: 1 << 24 };

function joined(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function contiguous(op: number, flags: number, muxId: number, payload: Uint8Array, subroute?: string): Uint8Array {
  const sub = subroute === undefined ? undefined : encodeSubroute(subroute);
  const frame: Frame = { ...emptyFrame(), op: op as Op, flags, muxId, payload };
  const buf = new Uint8Array(frameSize(frame, sub));
  encodeFieldsInto(buf, new DataView(buf.buffer), 0, op, flags, 7, muxId, 9, 11, sub, payload);
  return buf;
}

function decodeAll(parts: readonly Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  decodeParts(parts, limits, emptyFrame(), (fr) => out.push({ ...fr }));
  return out;
}

function big(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31) & 0xff;
  return b;
}

/** Byte equality without vitest's per-element diff (slow on a MiB). */
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

describe("encodeParts / decodeParts", () => {
  it.each([
    ["no checksum", 0, undefined],
    ["checksum", Flag.Checksum, undefined],
    ["subroute + checksum", Flag.Checksum, "tenant-7"],
  ])("joined, the parts are the contiguous encoding (%s), and decode to the same frame", (_, flags, subroute) => {
    const payload = big(40_000);
    const sub = subroute === undefined ? undefined : encodeSubroute(subroute);
    const parts = encodeParts(Op.Request, flags, 7, 5, 9, 11, sub, payload);
    expect(parts).toHaveLength(flags === 0 ? 2 : 3);
    expect(parts[1]).toBe(payload); // the payload itself, not a copy
    expect(same(joined(parts), contiguous(Op.Request, flags, 5, payload, subroute))).toBe(true);
    const [frame] = decodeAll(parts);
    expect(frame!.payload).toBe(payload); // decoded from its part, not a copy
    expect(frame).toMatchObject({ op: Op.Request, handler: 7, muxId: 5, seq: 9, deadlineMs: 11, subroute });
  });

  it("rejects a corrupted payload or checksum part with ProtocolError", () => {
    const payload = big(20_000);
    const parts = encodeParts(Op.Response, Flag.Checksum, 0, 3, 0, 0, undefined, payload);
    const badPayload = Uint8Array.from(payload);
    badPayload[12_345]! ^= 1;
    expect(() => decodeAll([parts[0]!, badPayload, parts[2]!])).toThrow(ProtocolError);
    const badCrc = Uint8Array.from(parts[2]!);
    badCrc[0]! ^= 1;
    expect(() => decodeAll([parts[0]!, payload, badCrc])).toThrow(/checksum mismatch/);
  });

  it("any other split of a valid message (another sender's fragments) is joined and decoded", () => {
    const payload = big(30_000);
    const whole = contiguous(Op.Response, Flag.Checksum, 4, payload);
    for (const cuts of [[1], [20], [21, 5000], [100, 200, 29_000], [whole.byteLength - 4], [whole.byteLength - 2]]) {
      const parts: Uint8Array[] = [];
      let at = 0;
      for (const cut of cuts) {
        parts.push(whole.subarray(at, cut));
        at = cut;
      }
      parts.push(whole.subarray(at));
      const frames = decodeAll(parts);
      expect(frames).toHaveLength(1);
      expect(same(frames[0]!.payload, payload)).toBe(true);
    }
  });

  it("a head whose length does not match its payload part, or extra parts, are malformed", () => {
    const payload = big(20_000);
    const [head] = encodeParts(Op.Response, 0, 0, 3, 0, 0, undefined, payload);
    expect(() => decodeAll([head!, payload.subarray(1)])).toThrow(ProtocolError);
    expect(() => decodeAll([head!, payload, new Uint8Array(4)])).toThrow(ProtocolError);
    expect(() => decodeAll([head!, payload, payload])).toThrow(ProtocolError);
  });

  it("applies maxPayloadBytes to a frame in parts", () => {
    const payload = big(20_000);
    const parts = encodeParts(Op.Response, 0, 0, 3, 0, 0, undefined, payload);
    expect(() => decodeParts(parts, { maxPayloadBytes: 19_999 }, emptyFrame(), () => {})).toThrow(/exceeds the limit/);
  });
});

class PartsTransport implements MessageTransport {
  sent: (Uint8Array | readonly Uint8Array[])[] = [];
  bufferedAmount = 0;
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  sendParts(parts: readonly Uint8Array[]): void {
    this.sent.push(parts);
  }
  setHandlers(_h: TransportHandlers): void {}
  close(): void {}
  terminate(): void {}
}

describe("FrameWriter and large payloads", () => {
  const opts = { maxQueuedBytes: 1 << 24, maxMergeBytes: 1 << 20, checksum: false, roomPollMs: 1, onError: (err: unknown) => { throw err; } };

  it("sends a payload of ZERO_COPY_MIN_BYTES or more alone, in parts, between merged runs, in order", async () => {
    const t = new PartsTransport();
    const w = new FrameWriter(opts);
    w.attach(t);
    const large = big(ZERO_COPY_MIN_BYTES);
    const small = big(ZERO_COPY_MIN_BYTES - 1);
    for (const [muxId, payload] of [[1, small], [2, small], [3, large], [4, small], [5, large]] as const) {
      w.writeFields(Op.Response, 0, 0, muxId, 0, 0, payload);
    }
    await Promise.resolve();
    expect(t.sent).toHaveLength(4);
    const frames = t.sent.flatMap((m) => decodeAll(Array.isArray(m) ? m : [m as Uint8Array]));
    expect(frames.map((x) => x.muxId)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.isArray(t.sent[0])).toBe(false); // 1 and 2, merged (copied)
    expect(t.sent[1]).toEqual([expect.any(Uint8Array), large]);
    expect((t.sent[1] as Uint8Array[])[1]).toBe(large); // not copied
    expect(frames[2]!.payload).toBe(large);
    expect(w.counters.messagesOut).toBe(4);
  });

  it("without sendParts, a large payload is copied into a message as before", async () => {
    const t = new PartsTransport();
    (t as { sendParts?: unknown }).sendParts = undefined;
    const w = new FrameWriter({ ...opts, checksum: true });
    w.attach(t);
    const large = big(100_000);
    w.writeFields(Op.Response, 0, 0, 1, 0, 0, large);
    await Promise.resolve();
    expect(t.sent).toHaveLength(1);
    expect(Array.isArray(t.sent[0])).toBe(false);
    expect(same(decodeAll([t.sent[0] as Uint8Array])[0]!.payload, large)).toBe(true);
  });
});

describe("large payloads end to end", () => {
  for (const kind of transports) {
    it(`${kind}: 16 KiB, 64 KiB and 1 MiB round trip intact, with and without checksums, among small calls`, async () => {
      for (const checksum of [false, true]) {
        const pair = await makePair(kind, { checksum });
        try {
          pair.rb.registerSingle(1, (payload) => payload);
          const sizes = [1, ZERO_COPY_MIN_BYTES - 1, ZERO_COPY_MIN_BYTES, 64 * 1024, 1024 * 1024, 100];
          const answers = await Promise.all(sizes.map((n, i) => pair.a.request(1, big(n + i))));
          answers.forEach((answer, i) => expect(same(answer, big(sizes[i]! + i))).toBe(true));
          expect(pair.a.stats.framesIn).toBeGreaterThanOrEqual(sizes.length);
        } finally {
          await pair.close();
        }
      }
    });
  }

  it("ws: the receiver is handed the payload fragment itself; the message is fragmented on the wire", async () => {
    const { client, server, done } = await wsPair();
    try {
      const sender = wsTransport(client);
      const receiver = wsTransport(server);
      const got: (readonly Uint8Array[])[] = [];
      receiver.setHandlers({ onMessage: (d) => got.push([d]), onParts: (p) => got.push(p), onClose: () => {} });
      sender.setHandlers({ onMessage: () => {}, onClose: () => {} });
      const payload = big(200_000);
      sender.sendParts!(encodeParts(Op.Request, 0, 1, 1, 0, 0, undefined, payload));
      sender.send(new Uint8Array([1, 2, 3]));
      await until(() => got.length >= 2);
      expect(got[0]).toHaveLength(2);
      expect(got[0]![1]!.byteLength).toBe(payload.byteLength);
      expect(same(got[0]![1], payload)).toBe(true);
      expect([...got[1]![0]!]).toEqual([1, 2, 3]);
    } finally {
      await done();
    }
  });
});

describe("connectWS maskFrames", () => {
  /** The 4-byte masking key of the first frame the client sends (a short binary message). */
  async function maskKeyOf(maskFrames: boolean | undefined): Promise<number[]> {
    const { wss, url, close } = await loopbackWss();
    const got = new Promise<Buffer>((resolve) => {
      wss.on("connection", (ws, req) => {
        const chunks: Buffer[] = [];
        req.socket.on("data", (d: Buffer) => {
          chunks.push(d);
          const all = Buffer.concat(chunks);
          if (all.length >= 6 + 3) resolve(all);
        });
        ws.on("message", () => {});
      });
    });
    const ws = await connectWS(url, maskFrames === undefined ? {} : { maskFrames });
    try {
      ws.send(new Uint8Array([1, 2, 3]));
      const bytes = await got;
      expect(bytes[1]! & 0x80).toBe(0x80); // the mask bit is set either way (RFC 6455 framing)
      return [...bytes.subarray(2, 6)];
    } finally {
      ws.terminate();
      await close();
    }
  }

  it("masks with a random key by default, with an all-zero key when maskFrames is false", async () => {
    const keys = [await maskKeyOf(undefined), await maskKeyOf(undefined)];
    expect(keys.some((k) => k.some((b) => b !== 0))).toBe(true);
    expect(await maskKeyOf(false)).toEqual([0, 0, 0, 0]);
  });

  it("an unmasked link carries small and large payloads intact", async () => {
    const { wss, url, close } = await loopbackWss();
    const registry = new HandlerRegistry();
    registry.registerSingle(1, (payload) => payload);
    const server = new Connection({ local: "s", remote: "c", handlers: registry, options: { logger: silentLogger } });
    wss.on("connection", (ws) => server.attach(wsTransport(ws)));
    const client = new Connection({ local: "c", remote: "s", handlers: new HandlerRegistry(), options: { logger: silentLogger } });
    client.attach(wsTransport(await connectWS(url, { maskFrames: false })));
    try {
      for (const n of [10, 100_000, 1 << 20]) expect(same(await client.request(1, big(n)), big(n))).toBe(true);
    } finally {
      client.close();
      server.close();
      await close();
    }
  });
});

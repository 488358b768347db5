/** Per-call metadata: the section's encoding, and every call form over a real WebSocket. */
import { afterEach, describe, expect, it } from "vitest";
import { LockerClient, registerLocker } from "../../generated/locks.js";
import type { LockerServer } from "../../generated/locks.js";
import { MessageTooLargeError, ProtocolError } from "../../runtime/errors.js";
import {
  DEFAULT_MAX_METADATA_BYTES,
  EMPTY_METADATA,
  encodeWithMetadata,
  splitMetadata,
} from "../../runtime/protocol/metadata.js";
import type { Metadata } from "../../runtime/protocol/metadata.js";
import type { HandlerContext } from "../../runtime/types.js";
import { bytes, makePair, text, until } from "./helpers.js";
import type { Pair } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

function encoded(metadata: Metadata, payload: Uint8Array | undefined, max = DEFAULT_MAX_METADATA_BYTES): Uint8Array {
  const body = encodeWithMetadata(metadata, payload, max);
  if (body instanceof Error) throw body;
  return body;
}

describe("metadata section", () => {
  it("round trips keys, UTF-8 values, and tells no payload from an empty one", () => {
    const md = { "x-request-id": "r-1", tenant: "ünïcødé ✓", "a.b_c-d": "" };
    const withPayload = splitMetadata(encoded(md, bytes("hello")), DEFAULT_MAX_METADATA_BYTES);
    expect({ ...withPayload.metadata }).toEqual(md);
    expect(text(withPayload.payload!)).toBe("hello");
    expect(Object.isFrozen(withPayload.metadata)).toBe(true);
    const empty = splitMetadata(encoded(md, new Uint8Array(0)), DEFAULT_MAX_METADATA_BYTES);
    expect(empty.payload).toEqual(new Uint8Array(0));
    const none = splitMetadata(encoded(md, undefined), DEFAULT_MAX_METADATA_BYTES);
    expect(none.payload).toBeUndefined();
  });

  it("rejects bad keys and values with TypeError, before anything is sent", () => {
    for (const key of ["", "X-Upper", "spa ce", "ü", "k".repeat(256)]) {
      expect(encodeWithMetadata({ [key]: "v" }, undefined, 1000), JSON.stringify(key)).toBeInstanceOf(TypeError);
    }
    expect(encodeWithMetadata({ k: 1 as unknown as string }, undefined, 1000)).toBeInstanceOf(TypeError);
    expect(encodeWithMetadata({ k: "k".repeat(255) }, undefined, 1000)).toBeInstanceOf(Uint8Array);
  });

  it("bounds the pairs by maxBytes (3 bytes of framing per pair) with MessageTooLargeError", () => {
    // key "k" (1) + value (n) + 3 = n + 4 bytes.
    expect(encodeWithMetadata({ k: "v".repeat(96) }, undefined, 100)).toBeInstanceOf(Uint8Array);
    const err = encodeWithMetadata({ k: "v".repeat(97) }, undefined, 100);
    expect(err).toBeInstanceOf(MessageTooLargeError);
    expect((err as Error).message).toBe("[message_too_large] metadata of 101 bytes exceeds maxMetadataBytes 100");
    // A receiver with a lower bound fails the call, not the connection.
    const body = encoded({ k: "v".repeat(96) }, undefined, 100);
    expect(() => splitMetadata(body, 99)).toThrow(MessageTooLargeError);
  });

  it("rejects malformed sections with ProtocolError", () => {
    const good = encoded({ k: "v" }, bytes("p"));
    const cases: Uint8Array[] = [
      new Uint8Array([1]), // shorter than its header
      Uint8Array.of(0, 0, 9), // empty section
      Uint8Array.of(50, 0, 1, 0x6b, 0, 0), // overruns the frame
      Uint8Array.of(4, 0x80, 1, 0x6b, 0, 0, 9), // "no payload" but bytes follow
      Uint8Array.of(4, 0, 1, 0x4b, 0, 0), // key with an upper-case letter
      Uint8Array.of(8, 0, 1, 0x6b, 0, 0, 1, 0x6b, 0, 0), // repeated key
      Uint8Array.of(5, 0, 1, 0x6b, 1, 0, 0xff), // value not UTF-8
      good.subarray(0, 4), // cut inside the pairs
    ];
    for (const [i, c] of cases.entries()) expect(() => splitMetadata(c, 1000), String(i)).toThrow(ProtocolError);
  });

  it("reads a section from a Buffer (what a socket delivers) as from a Uint8Array", () => {
    const md = { "x-request-id": "0f8fad5b-d9cb-469f-a165-70867728950e", tenant: "ünïcødé ✓", e: "" };
    const body = encoded(md, bytes("p"));
    for (const area of [body, Buffer.from(body)]) {
      const split = splitMetadata(area, DEFAULT_MAX_METADATA_BYTES);
      expect(split.metadata).toEqual(md);
      expect(text(split.payload!)).toBe("p");
    }
    // A key's byte outside ASCII is refused from a Buffer too.
    expect(() => splitMetadata(Buffer.from([4, 0x80, 1, 0xe9, 0, 0]), 1000)).toThrow(ProtocolError);
  });

  it("a key read before does not vouch for different bytes of the same length", () => {
    // "k" and "abc" are now the recently read keys of lengths 1 and 3.
    expect(splitMetadata(encoded({ k: "1", abc: "2" }, undefined), 1000).metadata).toEqual({ k: "1", abc: "2" });
    expect(() => splitMetadata(Uint8Array.of(4, 0x80, 1, 0x4b, 0, 0), 1000)).toThrow(ProtocolError); // "K"
    expect(() => splitMetadata(Uint8Array.of(6, 0x80, 3, 0x61, 0x62, 0x20, 0, 0), 1000)).toThrow(ProtocolError); // "ab "
    expect(splitMetadata(encoded({ abd: "3" }, undefined), 1000).metadata).toEqual({ abd: "3" });
  });

  it("metadata that changes while it is encoded (a getter) is an argument error, never a bad section", () => {
    let n = 0;
    const md = {
      get k(): string {
        return n++ === 0 ? "short" : "much longer";
      },
    };
    expect(encodeWithMetadata(md, bytes("p"), 1000)).toBeInstanceOf(TypeError);
  });
});

describe("metadata over a WebSocket", () => {
  it("raw single: the handler reads ctx.metadata; without metadata it sees the shared empty object and the bytes do not change", async () => {
    pair = await makePair("ws");
    const seen: HandlerContext["metadata"][] = [];
    pair.rb.registerSingle(1, (p, ctx) => {
      seen.push(ctx.metadata);
      return p;
    });
    const before = pair.a.stats.bytesOut;
    await pair.a.request(1, bytes("x"));
    const plainBytes = pair.a.stats.bytesOut - before;
    await pair.a.request(1, bytes("x"), { metadata: {} }); // empty: nothing sent
    const emptyBytes = pair.a.stats.bytesOut - before - plainBytes;
    expect(text(await pair.a.request(1, bytes("y"), { metadata: { "x-request-id": "abc" } }))).toBe("y");
    expect(seen[0]).toBe(EMPTY_METADATA);
    expect(seen[1]).toBe(EMPTY_METADATA);
    expect({ ...seen[2] }).toEqual({ "x-request-id": "abc" });
    expect(emptyBytes).toBe(plainBytes);
  });

  it("raw streams: server stream with and without a payload, and bidi, under a subroute", async () => {
    pair = await makePair("ws");
    const seen: { payload: string | undefined; md: Metadata }[] = [];
    pair.rb.registerStream(2, async function* (payload, _input, ctx) {
      seen.push({ payload: payload === undefined ? undefined : text(payload), md: { ...ctx.metadata } });
      yield bytes("one");
    });
    pair.rb.registerStream(
      3,
      async function* (_payload, input, ctx) {
        for await (const m of input!) yield bytes(`${ctx.metadata["k"]}:${text(m)}`);
      },
      { inCapacity: 4, subroute: "s" },
    );
    for (const payload of [bytes("p"), new Uint8Array(0), undefined]) {
      const s = await pair.a.newStream(2, payload, { metadata: { k: "v" } });
      for await (const _ of s.responses) void _;
    }
    expect(seen).toEqual([
      { payload: "p", md: { k: "v" } },
      { payload: "", md: { k: "v" } },
      { payload: undefined, md: { k: "v" } },
    ]);
    const bidi = await pair.a.subroute("s").newStream(3, undefined, { metadata: { k: "meta" } });
    await bidi.requests!.send(bytes("a"));
    bidi.requests!.close();
    const got: string[] = [];
    for await (const m of bidi.responses) got.push(text(m));
    expect(got).toEqual(["meta:a"]);
  });

  it("generated single, server stream and bidi calls carry CallOptions.metadata", async () => {
    pair = await makePair("ws");
    const seen: string[] = [];
    const note = (what: string, ctx: HandlerContext): void => void seen.push(`${what}:${ctx.metadata["x-request-id"]}`);
    const impl: Partial<LockerServer> = {
      lock: (_req, ctx) => (note("lock", ctx), { ok: true }),
      async *lockEvents(_req, ctx) {
        note("lockEvents", ctx);
      },
      async *refreshMany(input, ctx) {
        note("refreshMany", ctx);
        for await (const r of input) yield { uid: r.uid, ok: true };
      },
    };
    registerLocker(pair.rb, impl as LockerServer);
    const client = new LockerClient(pair.a);
    const opts = { metadata: { "x-request-id": "req-7" } };
    expect(await client.lock({ resources: ["r"], uid: "u", owner: "a", quorum: 1 }, opts)).toEqual({ ok: true });
    const events = await client.lockEvents({}, opts);
    for await (const _ of events.responses) void _;
    const bidi = await client.refreshMany(opts);
    await bidi.requests.send({ uid: "u1", resources: ["r"] });
    bidi.requests.close();
    for await (const _ of bidi.responses) void _;
    expect(seen).toEqual(["lock:req-7", "lockEvents:req-7", "refreshMany:req-7"]);
  });

  it("too large on the caller: rejected before sending; on a server with a lower bound: that call fails, the link stays", async () => {
    pair = await makePair("ws");
    let served = 0;
    pair.rb.registerSingle(1, (p) => (served++, p));
    pair.rb.registerStream(2, async function* () {
      served++;
    });
    const big = { k: "v".repeat(DEFAULT_MAX_METADATA_BYTES) };
    await expect(pair.a.request(1, bytes("x"), { metadata: big })).rejects.toThrow(
      /^\[message_too_large\] metadata of 8196 bytes exceeds maxMetadataBytes 8192$/,
    );
    await expect(pair.a.newStream(2, undefined, { metadata: big })).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(pair.b.stats.callsIn).toBe(0);
    // The server's own bound is lower than what this caller allows.
    Reflect.set(pair.b.options, "maxMetadataBytes", 10);
    const md = { k: "v".repeat(20) };
    await expect(pair.a.request(1, bytes("x"), { metadata: md })).rejects.toThrow(/metadata of 24 bytes exceeds maxMetadataBytes 10 of the server/);
    await expect(pair.a.newStream(2, undefined, { metadata: md })).rejects.toBeInstanceOf(MessageTooLargeError);
    expect(served).toBe(0);
    expect(pair.a.state).toBe("connected");
    expect(text(await pair.a.request(1, bytes("still up")))).toBe("still up");
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("bad metadata is an argument error of the call (rejects, never throws synchronously)", async () => {
    pair = await makePair("ws");
    pair.rb.registerSingle(1, (p) => p);
    const bad = pair.a.request(1, bytes("x"), { metadata: { "Bad Key": "v" } });
    await expect(bad).rejects.toBeInstanceOf(TypeError);
    expect(pair.b.stats.callsIn).toBe(0);
  });
});

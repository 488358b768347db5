import { describe, expect, it } from "vitest";
import { Connection } from "../../runtime/connection/connection.js";
import type { CallTrace } from "../../runtime/connection/options.js";
import { AbortError, DisconnectedError, RemoteError } from "../../runtime/errors.js";
import { HandlerRegistry } from "../../runtime/handlers/handler-registry.js";
import { silentLogger } from "../../runtime/logger.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import { bytes, makePair, sleep, text, until } from "./helpers.js";

function conns(options = {}) {
  const ra = new HandlerRegistry();
  const rb = new HandlerRegistry();
  const a = new Connection({ local: "a", remote: "b", handlers: ra, options: { logger: silentLogger, ...options } });
  const b = new Connection({ local: "b", remote: "a", handlers: rb, options: { logger: silentLogger, ...options } });
  const link = () => {
    const [ta, tb] = memoryTransportPair();
    a.attach(ta);
    b.attach(tb);
  };
  return { a, b, ra, rb, link };
}

describe("Connection lifecycle", () => {
  it("moves through its states, tells listeners, and counts reconnects", async () => {
    const { a, b, rb, link } = conns();
    rb.registerSingle(1, (p) => p);
    const seen: string[] = [];
    const off = a.onStateChange((s, prev) => seen.push(`${prev}->${s}`));
    expect(a.state).toBe("disconnected");
    await expect(a.request(1, bytes("x"))).rejects.toBeInstanceOf(DisconnectedError);
    a.setConnecting();
    const ready = a.waitConnected();
    link();
    await ready;
    expect(text(await a.request(1, bytes("x")))).toBe("x");
    a.detach(new Error("blip"));
    await until(() => b.state === "disconnected");
    a.setConnecting();
    link();
    expect(text(await a.request(1, bytes("y")))).toBe("y");
    expect(a.stats.reconnects).toBe(1);
    off();
    a.close();
    a.close(); // idempotent
    expect(seen).toEqual([
      "disconnected->connecting",
      "connecting->connected",
      "connected->disconnected",
      "disconnected->connecting",
      "connecting->connected",
    ]);
    expect(a.state).toBe("closed");
    await expect(a.request(1, bytes("x"))).rejects.toBeInstanceOf(DisconnectedError);
    await expect(a.waitConnected()).rejects.toBeInstanceOf(DisconnectedError);
    await until(() => b.state === "disconnected");
    b.close();
  });

  it("waitConnected rejects with AbortError on its signal, and with DisconnectedError on close", async () => {
    const { a } = conns();
    const ac = new AbortController();
    const w = a.waitConnected({ signal: ac.signal });
    ac.abort();
    await expect(w).rejects.toBeInstanceOf(AbortError);
    const w2 = a.waitConnected();
    a.close();
    await expect(w2).rejects.toBeInstanceOf(DisconnectedError);
  });

  it("close() tells the peer (Disconnect frame) and fails the peer's calls with DisconnectedError", async () => {
    const { a, b, ra, link } = conns();
    ra.registerSingle(1, () => new Promise(() => {}));
    link();
    const pending = b.request(1, bytes("x")).catch((e: unknown) => e);
    await until(() => a.stats.inFlight === 1);
    const reason = new Promise<Error | undefined>((r) => b.onStateChange((s, _p, why) => s === "disconnected" && r(why)));
    a.close();
    expect((await reason)?.message).toMatch(/peer closed the connection/);
    expect(await pending).toBeInstanceOf(DisconnectedError);
    expect(b.stats.inFlight).toBe(0);
    b.close();
  });

  it("attaching a new transport replaces the old one and fails the calls on it", async () => {
    const { a, b, rb, link } = conns();
    rb.registerSingle(1, () => new Promise(() => {}));
    rb.registerSingle(2, (p) => p);
    link();
    const pending = a.request(1, bytes("x")).catch((e: unknown) => e);
    await until(() => b.stats.inFlight === 1);
    link(); // the peer restarted: both sides get a fresh link
    expect(await pending).toBeInstanceOf(DisconnectedError);
    expect(text(await a.request(2, bytes("ok")))).toBe("ok");
    expect(b.stats.inFlight).toBe(0);
    a.close();
    b.close();
  });

  it("checksums: every frame carries a CRC and still round-trips", async () => {
    const pair = await makePair("ws", { checksum: true });
    pair.rb.registerSingle(1, (p) => p);
    pair.rb.registerStream(2, async function* (_p, input) {
      for await (const m of input!) yield m;
    }, { inCapacity: 2 });
    expect(text(await pair.a.request(1, bytes("crc")))).toBe("crc");
    const s = await pair.a.newStream(2);
    await s.requests!.send(bytes("m1"));
    s.requests!.close();
    const got: string[] = [];
    for await (const m of s.responses) got.push(text(m));
    expect(got).toEqual(["m1"]);
    await pair.close();
  });

  it("subroutes reach only handlers registered under them, for streams too", async () => {
    const pair = await makePair("memory");
    pair.rb.registerStream(3, async function* (_p, _i, ctx) {
      yield bytes(ctx.subroute ?? "none");
    }, { subroute: "disk-7" });
    const s = await pair.a.subroute("disk-7").newStream(3);
    const got: string[] = [];
    for await (const m of s.responses) got.push(text(m));
    expect(got).toEqual(["disk-7"]);
    await expect(pair.a.newStream(3)).rejects.toMatchObject({ code: "unknown_handler" });
    await pair.close();
  });

  it("traces one record per finished call on each side", async () => {
    const records: CallTrace[] = [];
    const pair = await makePair("memory", { trace: (r: CallTrace) => records.push(r) });
    pair.rb.registerSingle(1, (p) => p);
    pair.rb.registerSingle(2, () => {
      throw new Error("nope");
    });
    await pair.a.request(1, bytes("abc"));
    await pair.a.request(2, bytes("x")).catch(() => {});
    await until(() => records.length === 4);
    const out = records.filter((r) => r.direction === "out");
    const inc = records.filter((r) => r.direction === "in");
    expect(out.map((r) => [r.handler, r.peer, r.kind, r.bytesOut])).toEqual([[1, "b", "single", 3], [2, "b", "single", 1]]);
    expect(out[0]!.bytesIn).toBe(3);
    expect(out[1]!.error).toBeInstanceOf(RemoteError);
    expect(inc.map((r) => [r.handler, r.peer])).toEqual([[1, "a"], [2, "a"]]);
    for (const r of records) expect(r.durationMs).toBeGreaterThanOrEqual(0);
    await pair.close();
  });

  it("traces streams too, and gives handlers their caller, subroute and deadline", async () => {
    const records: CallTrace[] = [];
    const pair = await makePair("memory", { trace: (r: CallTrace) => records.push(r) });
    let seen: unknown[] = [];
    pair.rb.registerStream(4, async function* (p, _i, ctx) {
      seen = [ctx.caller, ctx.subroute, typeof ctx.deadline];
      yield p!;
      yield p!;
    });
    pair.rb.registerSingle(5, (_p, ctx) => bytes(`${ctx.caller}|${ctx.subroute}|${ctx.deadline! > Date.now()}`), { subroute: "x" });
    const s = await pair.a.newStream(4, bytes("ab"), { timeoutMs: 5000 });
    for await (const _m of s.responses) {
      // drain
    }
    expect(seen).toEqual(["a", undefined, "number"]);
    expect(text(await pair.a.subroute("x").request(5, bytes("")))).toBe("a|x|true");
    await until(() => records.filter((r) => r.kind === "stream").length === 2);
    const out = records.find((r) => r.kind === "stream" && r.direction === "out")!;
    const inc = records.find((r) => r.kind === "stream" && r.direction === "in")!;
    expect([out.bytesOut, out.bytesIn, out.error]).toEqual([2, 4, undefined]);
    expect([inc.bytesIn, inc.bytesOut, inc.peer]).toEqual([2, 4, "a"]);
    await pair.close();
  });

  it("handlers returning a non-Uint8Array or an oversize answer fail the call, not the connection", async () => {
    const pair = await makePair("memory", { maxMessageBytes: 100 });
    pair.rb.registerSingle(1, () => "text" as unknown as Uint8Array);
    pair.rb.registerSingle(2, () => new Uint8Array(101));
    await expect(pair.a.request(1, bytes("x"))).rejects.toMatchObject({ code: "remote" });
    await expect(pair.a.request(2, bytes("x"))).rejects.toMatchObject({ code: "message_too_large" });
    expect(pair.a.state).toBe("connected");
    await sleep(1);
    await pair.close();
  });

  it("rejects bad arguments with clear errors and leaves nothing behind", async () => {
    const pair = await makePair("memory");
    await expect(pair.a.request(0, bytes("x"))).rejects.toBeInstanceOf(RangeError);
    await expect(pair.a.request(70000, bytes("x"))).rejects.toBeInstanceOf(RangeError);
    await expect(pair.a.request(1, bytes("x"), { timeoutMs: -5 })).rejects.toBeInstanceOf(RangeError);
    await expect(pair.a.newStream(1, undefined, { timeoutMs: 0 })).rejects.toBeInstanceOf(RangeError);
    expect(pair.a.stats.inFlight).toBe(0);
    expect(() => pair.ra.registerSingle(1.5, (p) => p)).toThrow(RangeError);
    pair.ra.registerSingle(1, (p) => p);
    expect(() => pair.ra.registerSingle(1, (p) => p)).toThrow(/already registered/);
    expect(() => pair.ra.registerStream(1, async function* () {})).toThrow(/already registered/);
    expect(() => pair.ra.registerStream(9, async function* () {}, { outCapacity: 0 })).toThrow(RangeError);
    await pair.close();
  });
});

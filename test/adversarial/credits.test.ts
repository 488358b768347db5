/**
 * #9 item 1: credits. A peer that grants more credits than the capacity it was given must
 * not freeze or exhaust the node: the over-grant fails that stream with a protocol error,
 * stream output stays within the backlog bound, and a producer that never awaits cannot
 * starve the event loop.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EvilPeer, Op } from "./evil-peer.js";
import { Handlers, SECRET, freshPeerConnects, report, sleep, startProbe, startTarget, until, type Probe, type Target } from "./harness.js";

const MiB = 1024 * 1024;
let target: Target | undefined;
let probe: Probe | undefined;
const evils: EvilPeer[] = [];

afterEach(async () => {
  for (const e of evils.splice(0)) e.close();
  await probe?.close();
  probe = undefined;
  await target?.close();
  target = undefined;
});

async function setup(): Promise<{ t: Target; p: Probe }> {
  target = await startTarget();
  probe = await startProbe(target, 0);
  probe.start();
  return { t: target, p: probe };
}

async function evil(t: Target, i: number): Promise<EvilPeer> {
  const e = await EvilPeer.connect({ url: t.url, from: t.evilName(i), secret: SECRET });
  evils.push(e);
  return e;
}

describe("over-granted credits (#9 item 1)", () => {
  it("a grant of 2^32-1 on a stream that yields from memory fails that stream, and the node stays responsive", async () => {
    const { t, p } = await setup();
    const before = await t.mem();
    const e = await evil(t, 0);
    e.send({ op: Op.ConnectMux, muxId: 1, handler: Handlers.YieldFromMemory });
    await e.waitFor((f) => f.op === Op.AckMux && f.muxId === 1);
    e.send({ op: Op.UnblockServerMux, muxId: 1, seq: 0xffff_ffff });
    const failed = await e.waitFor((f) => f.op === Op.DisconnectServerMux && f.muxId === 1, 5000);
    expect(failed.error?.code).toBe("protocol");
    expect(failed.error?.message).toMatch(/credit/);
    // The target answers its probe and a new peer connects while the attack's link is up.
    await freshPeerConnects(t, 1);
    await sleep(300);
    const after = await t.mem(3000);
    const stats = await p.stop();
    report("credits: over-grant on a yield-from-memory stream", stats, before, after);
    expect(t.alive()).toBe(true);
    expect(stats.failed).toBe(0);
    expect(stats.p99).toBeLessThan(1000);
    expect(after.rss - before.rss).toBeLessThan(64 * MiB);
    await freshPeerConnects(t, 2);
  });

  it("a peer that keeps over-granting loses the link", async () => {
    const { t, p } = await setup();
    const e = await evil(t, 0);
    for (let id = 1; id <= 40; id++) {
      e.send({ op: Op.ConnectMux, muxId: id, handler: Handlers.YieldAwaitingIo });
      e.send({ op: Op.UnblockServerMux, muxId: id, seq: 1_000_000 });
    }
    const closed = await e.waitClosed(5000);
    expect(closed.code).not.toBe(1000);
    expect(t.logs.some((l) => l.message.includes("protocol error") && /credit/.test(String(l.fields.reason)))).toBe(true);
    const stats = await p.stop();
    expect(stats.failed).toBe(0);
    await freshPeerConnects(t, 1);
  });

  it("an over-grant of the caller's input stream fails that stream on the caller, which stays responsive", async () => {
    const { t, p } = await setup();
    const before = await t.mem();
    const e = await evil(t, 0);
    // Ask the target to open a stream back to us (handler 9 here) and feed it input.
    e.send({ op: Op.Request, muxId: 1, handler: Handlers.CallBackWithInput, payload: new Uint8Array([9]) });
    const open = await e.waitFor((f) => f.op === Op.ConnectMux, 5000);
    // Ack with an input capacity of 4, then grant 2^32-1 more.
    const ack = new Uint8Array(8);
    new DataView(ack.buffer).setUint32(0, 4, true);
    new DataView(ack.buffer).setUint32(4, 4, true);
    e.send({ op: Op.AckMux, muxId: open.muxId, payload: ack });
    e.send({ op: Op.UnblockClientMux, muxId: open.muxId, seq: 0xffff_ffff });
    const cancel = await e.waitFor((f) => f.op === Op.DisconnectClientMux && f.muxId === open.muxId, 5000);
    expect(cancel.error?.code).toBe("protocol");
    const answer = await e.waitFor((f) => f.op === Op.Response && f.muxId === 1, 5000);
    const sent = Number(new TextDecoder().decode(answer.payload));
    expect(sent).toBeLessThanOrEqual(4);
    const after = await t.mem(3000);
    const stats = await p.stop();
    report("credits: over-grant on the caller's input", stats, before, after, `input messages sent ${sent}`);
    expect(stats.failed).toBe(0);
    expect(after.rss - before.rss).toBeLessThan(64 * MiB);
  });

  it("stream output obeys the backlog bound when the caller does not read", async () => {
    const { t, p } = await setup();
    const before = await t.mem();
    const e = await evil(t, 0);
    e.pause();
    // 100 streams of 1024 credits each (100 MiB of credit in all), producers awaiting I/O.
    for (let id = 1; id <= 100; id++) e.send({ op: Op.ConnectMux, muxId: id, handler: Handlers.YieldAwaitingIoWide });
    await sleep(1500);
    const during = await t.mem(3000);
    const stats = await p.stop();
    report("credits: 100 wide streams, caller not reading", stats, before, during);
    expect(stats.failed).toBe(0);
    // Queued output is bounded by maxQueuedBytes (8 MiB) plus one batch, not by streams x credits.
    expect(during.rss - before.rss).toBeLessThan(48 * MiB);
    // A peer that reads none of it for writeTimeoutMs (3 s) is dropped, with a logged reason.
    await until(() => t.logs.some((l) => l.message === "peer is not reading, dropping the connection"), 6000);
    e.resume(); // a paused socket would not even see its own close
    const closed = await e.waitClosed(3000);
    expect(closed.code).not.toBe(1000);
    await freshPeerConnects(t, 1);
  });
});

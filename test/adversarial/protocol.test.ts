/**
 * #9 item 8 (frame level): what docs/PROTOCOL.md forbids is refused explicitly. A text
 * WebSocket message, a Merged frame with a mux id, a Merged frame wrapping the handshake
 * (as the first message or later) each end only the offending link, with the documented
 * reason in the target's log; the target stays responsive and keeps accepting peers.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { CHALLENGE_HEADER, PROTOCOL_VERSION, decodeConnectResponse, encodeConnect } from "../../runtime/cluster/handshake.js";
import { EvilPeer, Op, encode, encodeMerged } from "./evil-peer.js";
import { Handlers, SECRET, freshPeerConnects, report, startProbe, startTarget, until, type Memory, type Probe, type Target } from "./harness.js";

const MiB = 1024 * 1024;
let t: Target;
let probe: Probe | undefined;
let before: Memory;

beforeAll(async () => {
  t = await startTarget();
  probe = await startProbe(t, 0);
  probe.start();
  before = await t.mem();
}, 60_000);

afterAll(async () => {
  if ((t as Target | undefined) === undefined) return; // the target never started: beforeAll reported why
  const after = await t.mem().catch(() => undefined);
  const stats = probe === undefined ? undefined : await probe.stop();
  await probe?.close();
  await t.close();
  if (stats === undefined) return;
  if (after !== undefined) report("protocol: text frame, Merged with a mux id, Merged-wrapped handshakes", stats, before, after);
  expect(stats.failed).toBe(0);
  expect(after).toBeDefined();
  expect(after!.rss - before.rss).toBeLessThan(32 * MiB);
});

/** The target logged that it dropped `peer` for a reason matching `reason`. */
async function droppedFor(peer: string, reason: RegExp): Promise<void> {
  await until(
    () => t.logs.some((l) => l.fields.peer === peer && l.message === "connection lost" && reason.test(String(l.fields.reason))),
    5000,
    `"connection lost" for ${peer} matching ${reason}`,
  );
}

describe("frames the protocol forbids (#9 item 8)", () => {
  it("a text WebSocket message ends the link as a protocol error (it is never parsed as a frame)", async () => {
    const e = await EvilPeer.connect({ url: t.url, from: t.evilName(0), secret: SECRET });
    // A text message whose bytes would be a valid echo Request if it were parsed.
    const request = encode({ op: Op.Request, muxId: 1, handler: Handlers.Echo, payload: new Uint8Array([65]) });
    e.send(request, { binary: false });
    await e.waitClosed(5000);
    expect(e.count(Op.Response)).toBe(0);
    await droppedFor(t.evilName(0), /text WebSocket message/);
    await freshPeerConnects(t, 1);
  });

  it("a Merged frame with a non-zero mux id is a protocol error", async () => {
    const e = await EvilPeer.connect({ url: t.url, from: t.evilName(1), secret: SECRET });
    const inner = [1, 2].map((id) => encode({ op: Op.Request, muxId: id, handler: Handlers.Echo, payload: new Uint8Array([1]) }));
    e.send(encodeMerged(inner, { muxId: 7 }));
    await e.waitClosed(5000);
    expect(e.count(Op.Response)).toBe(0);
    await droppedFor(t.evilName(1), /Merged frame with mux id 7/);
  });

  it("a Merged frame wrapping Connect after the handshake is a protocol error", async () => {
    const e = await EvilPeer.connect({ url: t.url, from: t.evilName(2), secret: SECRET });
    e.send(encodeMerged([encode({ op: Op.Ping, payload: new Uint8Array(8) }), encode({ op: Op.Connect, payload: new Uint8Array(4) })]));
    await e.waitClosed(5000);
    await droppedFor(t.evilName(2), /Merged frame wraps Connect/);
  });

  it("a valid Connect wrapped in a Merged frame is not accepted as the handshake", async () => {
    const from = t.evilName(3);
    const ws = new WebSocket(t.url, { perMessageDeflate: false });
    ws.on("error", () => {});
    let challenge = "";
    ws.once("upgrade", (res) => (challenge = String(res.headers[CHALLENGE_HEADER])));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const answer = new Promise<Uint8Array>((resolve) => ws.once("message", (d: Buffer) => resolve(new Uint8Array(d))));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const connect = encodeConnect({
      version: PROTOCOL_VERSION,
      from,
      to: t.url,
      instanceId: randomUUID(),
      time: Date.now(),
      token: await sharedSecretAuth(SECRET).token(t.url, from, challenge),
      challenge: "c",
    });
    ws.send(encodeMerged([connect]));
    const res = decodeConnectResponse(await answer);
    expect(res.accepted).toBe(false);
    expect(res.accepted ? "" : res.code).toBe("protocol");
    expect(res.accepted ? "" : res.reason).toMatch(/Merged frame wraps Connect/);
    expect(await closed).toBe(1008);
    // The same Connect, alone in its message, is accepted: only the wrapping was refused.
    const e = await EvilPeer.connect({ url: t.url, from, secret: SECRET });
    e.close();
    await freshPeerConnects(t, 2);
  });
});

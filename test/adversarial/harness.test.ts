/**
 * The adversarial harness itself: the target runs in a child, the evil peer completes a
 * valid handshake and is served like any peer, probes measure, and the target's memory is
 * read after a GC. If this fails, every adversarial test's verdict is meaningless.
 */
import { afterEach, expect, it } from "vitest";
import { EvilPeer, Op } from "./evil-peer.js";
import { Handlers, SECRET, freshPeerConnects, report, startProbe, startTarget, type Target } from "./harness.js";

let target: Target | undefined;
afterEach(async () => {
  await target?.close();
  target = undefined;
});

it("serves an evil peer's valid frames and a probe, and reports memory", async () => {
  const t = (target = await startTarget());
  const probe = await startProbe(t, 0);
  probe.start(5);
  const before = await t.mem();
  expect(before.heapUsed).toBeGreaterThan(0);
  const e = await EvilPeer.connect({ url: t.url, from: t.evilName(0), secret: SECRET });
  e.send({ op: Op.Request, muxId: 1, handler: Handlers.Echo, payload: new Uint8Array([42]) });
  const answer = await e.waitFor((f) => f.op === Op.Response && f.muxId === 1);
  expect([...answer.payload!]).toEqual([42]);
  e.send({ op: Op.Request, muxId: 2, handler: 999 });
  const unknown = await e.waitFor((f) => f.op === Op.Response && f.muxId === 2);
  expect(unknown.error?.code).toBe("unknown_handler");
  expect(await freshPeerConnects(t, 1)).toBeLessThan(5000);
  const stats = await probe.stop();
  const after = await t.mem();
  report("harness smoke", stats, before, after);
  expect(stats.ok).toBeGreaterThan(0);
  expect(stats.failed).toBe(0);
  // A stalled target does not answer: the liveness check the attacks rely on can fail.
  const stalled = t.stall(1500);
  await expect(t.mem(500)).rejects.toThrow(/did not answer/);
  await stalled;
  e.close();
  await probe.close();
});

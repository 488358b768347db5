/**
 * #9 items 2–5, the link level before authentication: refused handshakes, silent sockets,
 * a holder of the secret hammering the handshake, a replayed Connect. Each attack runs
 * against a target Manager in a child process while a probe keeps calling it; each checks
 * that the target stays up and responsive, that its memory stays bounded, that the
 * offender gets the documented treatment, and that a new legitimate peer gets in during and
 * after the attack (bounds: docs/operations.md#resource-model).
 */
import { randomUUID } from "node:crypto";
import { connect as netConnect } from "node:net";
import { afterEach, expect, it } from "vitest";
import { WebSocket } from "ws";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { CHALLENGE_HEADER, PROTOCOL_VERSION, decodeConnectResponse, encodeConnect } from "../../runtime/cluster/handshake.js";
import type { ConnDialer } from "../../runtime/transport/dialer.js";
import { SECRET, fmtMiB, freshPeerConnects, report, sleep, startProbe, startTarget, type Target } from "./harness.js";

let targets: Target[] = [];
afterEach(async () => {
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

const MiB = 1024 * 1024;

/** A dialer whose sockets come from another loopback address (a peer on another host). */
function fromAddress(localAddress: string): ConnDialer {
  return (address) =>
    new Promise((resolve, reject) => {
      const url = new URL(address);
      const socket = netConnect({ host: url.hostname, port: Number(url.port), localAddress });
      socket.once("connect", () => resolve(socket));
      socket.once("error", reject);
    });
}

interface RawLink {
  ws: WebSocket;
  challenge: string;
  closed: Promise<number>;
}

async function openRaw(url: string, localAddress?: string): Promise<RawLink> {
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
  ws.on("error", () => {});
  let challenge = "";
  ws.once("upgrade", (res) => (challenge = String(res.headers[CHALLENGE_HEADER] ?? "")));
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
  return { ws, challenge, closed };
}

function connectFrame(from: string, to: string, token: string): Uint8Array {
  return encodeConnect({ version: PROTOCOL_VERSION, from, to, instanceId: randomUUID(), time: Date.now(), token, challenge: randomUUID() });
}

it("item 2: a refused link is destroyed at once, and what a peer sends before Connect is accepted is bounded", { timeout: 60_000 }, async () => {
  const t = await startTarget();
  targets.push(t);
  const probe = await startProbe(t, 0);
  probe.start(10);
  const before = await t.mem();
  const junk = new Uint8Array(MiB);
  const until = Date.now() + 3000;
  const connectsDuring = freshPeerConnects(t, 1);
  // 20 peers send a Connect with a bad token and keep sending 1 MiB messages.
  const refused = Array.from({ length: 20 }, async (_, i) => {
    const link = await openRaw(t.url);
    const answer = new Promise<Uint8Array>((resolve) => link.ws.once("message", (d: Buffer) => resolve(new Uint8Array(d))));
    link.ws.send(connectFrame(t.evilName(i % 6), t.url, "v2.bad"));
    const res = decodeConnectResponse(await answer);
    // Refused: now keep sending (what the listener used to read and queue until its timeout).
    const refusedAt = Date.now();
    let sent = 0;
    let closedAt = 0;
    void link.closed.then(() => (closedAt = Date.now()));
    while (link.ws.readyState === WebSocket.OPEN && Date.now() < until) {
      if (link.ws.bufferedAmount < 4 * MiB) {
        link.ws.send(junk);
        sent += junk.byteLength;
      } else await sleep(2);
    }
    await Promise.race([link.closed, sleep(6000)]);
    link.ws.terminate();
    return { res, sent, closedAfterMs: closedAt === 0 ? Infinity : closedAt - refusedAt };
  });
  // 10 peers send no Connect, just one 8 MiB message (under maxPayload): the pre-auth budget stops it.
  const giant = new Uint8Array(8 * MiB);
  const unauthenticated = Array.from({ length: 10 }, async () => {
    const link = await openRaw(t.url);
    link.ws.send(giant);
    const code = await Promise.race([link.closed, sleep(3000).then(() => -1)]);
    link.ws.terminate();
    return code;
  });
  const refusals = await Promise.all(refused);
  const codes = await Promise.all(unauthenticated);
  const connectMs = await connectsDuring;
  const stats = await probe.stop();
  const after = await t.mem();
  const connectAfter = await freshPeerConnects(t, 2);
  const slowestClose = Math.max(...refusals.map((r) => r.closedAfterMs));
  const sentMiB = refusals.reduce((a, r) => a + r.sent, 0) / MiB;
  report(
    "item 2 (20 refused links flooding 1 MiB messages, 10 unauthenticated 8 MiB messages)",
    stats,
    before,
    after,
    `flood sent ${sentMiB.toFixed(0)} MiB; refused links closed within ${slowestClose} ms; ` +
      `pre-auth 8 MiB messages: closed ${codes.filter((c) => c === 1006).length}/10 (1006); fresh peer ${connectMs.toFixed(0)} ms during, ${connectAfter.toFixed(0)} ms after`,
  );
  expect(t.alive()).toBe(true);
  for (const r of refusals) {
    expect(r.res).toMatchObject({ accepted: false, code: "unauthenticated" });
    expect(r.res.accepted ? "" : r.res.reason).toMatch(/bad auth token/);
  }
  // Destroyed, not kept until the 10 s handshake timeout. Quiet, it takes tens of ms; at load 15
  // the target, reading 20 floods and 80 MiB of pre-auth messages, took 2.3 s: 5 s still tells
  // "destroyed on refusal" from "kept until the timeout".
  expect(slowestClose).toBeLessThan(5000);
  expect(codes.every((c) => c === 1006)).toBe(true); // destroyed by the pre-auth byte budget
  expect(stats.failed).toBe(0);
  expect(after.maxRss - before.rss).toBeLessThan(96 * MiB); // ~24 MiB documented, plus socket buffers and noise
  expect(after.rss - before.rss).toBeLessThan(48 * MiB);
});

it("item 3: 300 silent WebSockets from one address, reopened as they drop, lock nobody out and log a few lines", async () => {
  const t = await startTarget();
  targets.push(t);
  const probe = await startProbe(t, 0);
  probe.start(10);
  const before = await t.mem();
  const logsBefore = t.logs.length;
  let running = true;
  let opened = 0;
  let refused503 = 0;
  const holders = Array.from({ length: 300 }, async () => {
    while (running) {
      try {
        const link = await openRaw(t.url, "127.0.0.1");
        opened++;
        await Promise.race([link.closed, (async () => { while (running) await sleep(50); })()]);
        link.ws.terminate();
      } catch {
        refused503++;
        await sleep(10);
      }
    }
  });
  await sleep(1000);
  // A new peer on another host (address) gets in while the flood goes on.
  const t0 = performance.now();
  const other = await startProbe(t, 1, 5000, { dialer: fromAddress("127.0.0.2") });
  const connectDuring = performance.now() - t0;
  await other.call();
  await other.close();
  await sleep(2500); // > firstMessageTimeoutMs: silent links are dropped and reopened meanwhile
  running = false;
  await Promise.all(holders);
  const stats = await probe.stop();
  const after = await t.mem();
  const connectAfter = await freshPeerConnects(t, 2);
  // The flood's lines only: "no connection from a peer yet" is the Manager's one-time report,
  // dialTimeoutMs after its start, of the probe and evil names that never dial it; on a loaded
  // machine this test reaches that moment and it adds one line per such name (12 lines seen).
  const lines = t.logs
    .slice(logsBefore)
    .filter((l) => l.level !== "info" && l.message !== "no connection from a peer yet");
  const kinds = new Set(lines.map((l) => l.message));
  report(
    "item 3 (300 silent WebSockets from 127.0.0.1, reopened, 3.5 s)",
    stats,
    before,
    after,
    `upgrades accepted ${opened}, refused 503 ${refused503}; peer from 127.0.0.2 connected in ${connectDuring.toFixed(0)} ms during, ` +
      `fresh peer ${connectAfter.toFixed(0)} ms after; ${lines.length} warn/error lines (${[...kinds].join(" | ")})`,
  );
  expect(t.alive()).toBe(true);
  expect(refused503).toBeGreaterThan(0); // the per-address bound was hit
  expect(connectDuring).toBeLessThan(5000);
  expect(stats.failed).toBe(0);
  expect(lines.length).toBeLessThanOrEqual(10); // rate-limited: first of each kind, then counts
  expect(after.rss - before.rss).toBeLessThan(48 * MiB);
});

it("items 4 and 5: a secret holder's flood of handshakes fills nothing, and a captured Connect is refused on any other link, before and after a restart", async () => {
  const t1 = await startTarget();
  targets.push(t1);
  const port = Number(new URL(t1.url).port);
  const probe = await startProbe(t1, 0);
  probe.start(10);
  const before = await t1.mem();
  const auth = sharedSecretAuth(SECRET);
  // Capture a valid Connect (plain ws://) and the link it was made for.
  const first = await openRaw(t1.url);
  const captured = connectFrame(t1.evilName(0), t1.url, auth.token(t1.url, t1.evilName(0), first.challenge) as string);
  const firstAnswer = new Promise<Uint8Array>((resolve) => first.ws.once("message", (d: Buffer) => resolve(new Uint8Array(d))));
  first.ws.send(captured);
  expect(decodeConnectResponse(await firstAnswer).accepted).toBe(true);
  first.ws.terminate();
  // Item 4: 400 valid handshakes by a holder of the secret, 8 at a time.
  const t0 = performance.now();
  let accepted = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 50; i++) {
        const link = await openRaw(t1.url);
        const from = t1.evilName(1 + (w % 5));
        const answer = new Promise<Uint8Array>((resolve) => link.ws.once("message", (d: Buffer) => resolve(new Uint8Array(d))));
        link.ws.send(connectFrame(from, t1.url, auth.token(t1.url, from, link.challenge) as string));
        if (decodeConnectResponse(await answer).accepted) accepted++;
        link.ws.terminate();
      }
    }),
  );
  const floodMs = performance.now() - t0;
  const connectAfterFlood = await freshPeerConnects(t1, 1);
  // Item 5, same process: the captured Connect replayed on a new link.
  const replay = async (url: string): Promise<{ accepted: boolean; reason: string; code: number }> => {
    const link = await openRaw(url);
    const answer = new Promise<Uint8Array>((resolve) => link.ws.once("message", (d: Buffer) => resolve(new Uint8Array(d))));
    link.ws.send(captured);
    const res = decodeConnectResponse(await answer);
    const code = await Promise.race([link.closed, sleep(3000).then(() => -1)]);
    return { accepted: res.accepted, reason: res.accepted ? "" : `${res.code}: ${res.reason}`, code };
  };
  const replayedSame = await replay(t1.url);
  const stats = await probe.stop();
  const after = await t1.mem();
  await probe.close();
  // ...and after a restart of the target on the same address.
  await t1.close();
  const t2 = await startTarget({ port });
  targets.push(t2);
  expect(t2.url).toBe(t1.url);
  const replayedRestart = await replay(t2.url);
  const connectAfterRestart = await freshPeerConnects(t2, 2);
  report(
    "items 4, 5 (400 valid handshakes by a secret holder; a captured Connect replayed)",
    stats,
    before,
    after,
    `${accepted}/400 accepted in ${floodMs.toFixed(0)} ms; fresh peer after ${connectAfterFlood.toFixed(0)} ms; ` +
      `replay same process: ${replayedSame.reason} (close ${replayedSame.code}); after restart: ${replayedRestart.reason} (close ${replayedRestart.code}); ` +
      `fresh peer after restart ${connectAfterRestart.toFixed(0)} ms; heap after GC ${fmtMiB(before.heapUsed)} -> ${fmtMiB(after.heapUsed)}`,
  );
  expect(accepted).toBe(400);
  for (const r of [replayedSame, replayedRestart]) {
    expect(r.accepted).toBe(false);
    expect(r.reason).toMatch(/^unauthenticated: bad auth token from /);
    expect(r.code).toBe(1008);
  }
  expect(stats.failed).toBe(0);
  expect(after.heapUsed - before.heapUsed).toBeLessThan(16 * MiB); // nothing remembered per handshake
});

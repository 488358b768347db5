/**
 * Review: what a peer sends while its handshake is being checked is held back (to be
 * replayed after it, or dropped with the link) only up to max(maxQueuedBytes, largest
 * message): a peer that floods a link during a slow auth check is dropped at once instead
 * of filling memory until the handshake timeout.
 */
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { Manager } from "../../runtime/cluster/manager.js";
import { PROTOCOL_VERSION, encodeConnect, encodeConnectResponse } from "../../runtime/cluster/handshake.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import { freePorts } from "./helpers.js";

const managers: Manager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

describe("a peer flooding a link during its handshake", () => {
  it("is dropped once it exceeds maxQueuedBytes, long before the handshake timeout", async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    let [x, y] = [`ws://127.0.0.1:${p1}/grid`, `ws://127.0.0.1:${p2}/grid`];
    if (!shouldDial(x, y)) [x, y] = [y, x]; // x dials y: y listens and checks x's Connect
    const slowVerify = {
      token: () => "t",
      verify: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
    };
    const listener = new Manager({
      local: y,
      hosts: [x, y],
      logger: silentLogger,
      auth: slowVerify,
      handshakeTimeoutMs: 20_000,
      maxMessageBytes: 64 * 1024,
      maxMergeBytes: 16 * 1024,
      maxQueuedBytes: 1024 * 1024,
    });
    managers.push(listener);
    await listener.listen();
    const ws = new WebSocket(y, { perMessageDeflate: false });
    ws.on("error", () => {});
    await once(ws, "open");
    const t0 = Date.now();
    const closed = once(ws, "close");
    ws.send(encodeConnect({ version: PROTOCOL_VERSION, from: x, to: y, instanceId: "i", time: Date.now(), token: "t", challenge: "c" }));
    const junk = new Uint8Array(32 * 1024); // under maxPayload: only the held-bytes bound can stop it
    for (let i = 0; i < 64 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(junk);
      await new Promise((r) => setTimeout(r, 5));
    }
    const [code] = (await closed) as [number];
    expect(code).toBe(1006); // terminated, not a "message too big" close (1009)
    expect(Date.now() - t0).toBeLessThan(8000); // the slow check alone takes 15 s
  });
});

describe("a listener flooding the dialler while the dialler checks its answer", () => {
  it("fails that dial at once", async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    let [x, y] = [`ws://127.0.0.1:${p1}/grid`, `ws://127.0.0.1:${p2}/grid`];
    if (!shouldDial(x, y)) [x, y] = [y, x];
    const port = Number(new URL(y).port);
    const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
    await once(wss, "listening");
    wss.on("headers", (headers) => headers.push("x-tsgrid-challenge: c")); // the challenge a real listener sends
    wss.on("connection", (peer) => {
      peer.on("error", () => {});
      peer.once("message", async () => {
        peer.send(encodeConnectResponse({ accepted: true, version: PROTOCOL_VERSION, from: y, instanceId: "i", time: Date.now(), token: "t" }));
        const junk = new Uint8Array(32 * 1024);
        for (let i = 0; i < 64 && peer.readyState === WebSocket.OPEN; i++) {
          peer.send(junk);
          await new Promise((r) => setTimeout(r, 5));
        }
      });
    });
    const failures: string[] = [];
    const dialer = new Manager({
      local: x,
      hosts: [x, y],
      logger: {
        ...silentLogger,
        warn: (m, f) => void failures.push(`${m} ${String(f?.["error"])}`),
        error: (m, f) => void failures.push(`${m} ${String(f?.["error"])}`),
      },
      auth: { token: () => "t", verify: () => new Promise<boolean>((r) => setTimeout(() => r(true), 15_000).unref()) },
      maxMessageBytes: 64 * 1024,
      maxMergeBytes: 16 * 1024,
      maxQueuedBytes: 128 * 1024,
      dialTimeoutMs: 20_000,
      reconnect: { initialDelayMs: 5000, maxDelayMs: 5000 },
    });
    managers.push(dialer);
    const t0 = Date.now();
    try {
      while (failures.length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(failures[0]).toMatch(/before the handshake was settled/);
      expect(dialer.connection(y).state).not.toBe("connected");
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});

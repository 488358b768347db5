import { createServer as createHttpServer, type Server } from "node:http";
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { connectWS } from "../../runtime/transport/connect-ws.js";
import { tcpDialer, type ConnDialer } from "../../runtime/transport/dialer.js";
import { AbortError, DisconnectedError } from "../../runtime/errors.js";
import { MemoryLink } from "./helpers.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** An http server whose upgrades at /grid become echoing WebSockets. */
function echoServer(): { server: Server; wss: WebSocketServer } {
  const wss = new WebSocketServer({ noServer: true });
  const server = createHttpServer();
  server.on("upgrade", (req, socket, head) => {
    if (req.url !== "/grid") {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on("message", (data) => ws.send(data)));
  });
  cleanups.push(() => {
    wss.close();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { server, wss };
}

async function echo(ws: WebSocket, bytes: Uint8Array): Promise<Uint8Array> {
  const reply = new Promise<Uint8Array>((resolve) => ws.once("message", (data) => resolve(data as Buffer)));
  ws.send(bytes);
  return reply;
}

function closeWs(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once("close", () => resolve());
    ws.terminate();
  });
}

describe("connectWS", () => {
  it("connects over the default TCP dialer", async () => {
    const { server } = echoServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const ws = await connectWS(`ws://127.0.0.1:${port}/grid`);
    expect([...(await echo(ws, new Uint8Array([1, 2, 3])))]).toEqual([1, 2, 3]);
    await closeWs(ws);
  });

  it("runs over an in-memory duplex fed to a server that never listens", async () => {
    const { server } = echoServer();
    const dialed: string[] = [];
    const dialer: ConnDialer = async (address) => {
      dialed.push(address);
      const link = new MemoryLink();
      server.emit("connection", link.b);
      return link.a;
    };
    const ws = await connectWS("ws://mem-peer/grid", { dialer, headers: { "x-test": "1" } });
    expect(dialed).toEqual(["ws://mem-peer/grid"]);
    expect([...(await echo(ws, new Uint8Array([9])))]).toEqual([9]);
    await closeWs(ws);
  });

  it("runs over a Unix socket dialer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgrid-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "grid.sock");
    const { server } = echoServer();
    const unix = createNetServer((socket) => server.emit("connection", socket));
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    cleanups.push(() => new Promise((resolve) => unix.close(resolve)));
    const dialer: ConnDialer = (_address, signal) =>
      new Promise((resolve, reject) => {
        const socket = netConnect(path, () => resolve(socket));
        socket.once("error", reject);
        signal.addEventListener("abort", () => socket.destroy());
      });
    const ws = await connectWS("ws://unix-peer/grid", { dialer });
    expect([...(await echo(ws, new Uint8Array([7, 7])))]).toEqual([7, 7]);
    await closeWs(ws);
  });

  it("fails with DisconnectedError when nothing listens", async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    await expect(connectWS(`ws://127.0.0.1:${port}/grid`)).rejects.toBeInstanceOf(DisconnectedError);
  });

  it("fails with DisconnectedError naming the HTTP status of a refused upgrade", async () => {
    const { server } = echoServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const err = await connectWS(`ws://127.0.0.1:${port}/other`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DisconnectedError);
    expect((err as Error).message).toContain("404");
  });

  it("aborts a stalled upgrade and destroys the stream", async () => {
    const link = new MemoryLink(); // nobody answers on the other end
    const controller = new AbortController();
    const pending = connectWS("ws://stalled/grid", { dialer: async () => link.a, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(link.a.destroyed).toBe(true);
  });

  it("rejects at once on an already-aborted signal without dialling", async () => {
    let dialled = false;
    const controller = new AbortController();
    controller.abort();
    const err = await connectWS("ws://x/grid", {
      signal: controller.signal,
      dialer: async () => {
        dialled = true;
        return new MemoryLink().a;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(dialled).toBe(false);
  });
});

describe("tcpDialer", () => {
  it("aborts a dial without leaving the socket behind", async () => {
    const controller = new AbortController();
    // 10.255.255.1 is not routable: the connect stays pending until aborted.
    const pending = tcpDialer("ws://10.255.255.1:9/grid", controller.signal);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
  });

  it("rejects a non-URL address", async () => {
    await expect(tcpDialer("not a url", new AbortController().signal)).rejects.toBeInstanceOf(DisconnectedError);
  });
});

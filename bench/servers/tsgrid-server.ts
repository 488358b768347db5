/**
 * tsgrid server, two modes (argv[2]):
 *  - "manager" (default): a Manager listening on a loopback port, whose hosts are itself and
 *    one client Manager on a port reserved here (passed to the client as `clientPort`);
 *    "manager-tls": the same over mutual TLS (wss://; the certificates are made here and
 *    passed to the client as `tls`); "manager-crc": the same with frame checksums on;
 *    "manager-nomask": both Managers with maskFrames false (all-zero WebSocket masking keys);
 *    argv[3]: the observability integrations it runs (bench/lib/instrument.ts), default none;
 *  - "direct": a `ws` server whose every connection gets a bare Connection (no handshake),
 *    for the memory rows that open many connections from one client.
 */
import { Connection, HandlerRegistry, shouldDial, wsTransport } from "tsgrid";
import { WebSocketServer } from "ws";
import { runServerChild } from "../lib/server-child.js";
import { registerBenchHandlers } from "../lib/tsgrid-handlers.js";
import { silentLogger } from "../lib/tsgrid-connect.js";
import { makeBenchTls } from "../lib/tls-certs.js";
import { instrument } from "../lib/instrument.js";
import { freePort, gridAddress, startManager, type LinkOptions } from "../lib/tsgrid-cluster.js";

const mode = process.argv[2] ?? "manager";

runServerChild(async () => {
  if (mode.startsWith("manager")) {
    const link: LinkOptions =
      mode === "manager-tls"
        ? { tls: makeBenchTls() }
        : mode === "manager-crc"
          ? { checksum: true }
          : mode === "manager-nomask"
            ? { maskFrames: false }
            : {};
    const secure = link.tls !== undefined;
    const port = await freePort();
    // A client port whose client dials this server (so the connect-time row measures a dial,
    // not this server's redial backoff); bounded: each try is a coin flip.
    let clientPort = await freePort();
    for (let i = 0; i < 32 && !shouldDial(gridAddress(clientPort, secure), gridAddress(port, secure)); i++) clientPort = await freePort();
    const instrumented = await instrument(process.argv[3] ?? "none");
    const manager = await startManager(gridAddress(port, secure), [gridAddress(port, secure), gridAddress(clientPort, secure)], instrumented.interceptors, link);
    instrumented.attach(manager);
    return {
      port,
      info: { clientPort, ...link },
      close: async () => {
        await manager.close();
        await instrumented.close();
      },
    };
  }
  const registry = new HandlerRegistry();
  registerBenchHandlers(registry);
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  const connections = new Set<Connection>();
  let n = 0;
  wss.on("connection", (ws) => {
    // The memory row holds 10,000 calls from one peer: above the default maxIncomingCalls.
    const conn = new Connection({
      local: "server",
      remote: `client-${n++}`,
      handlers: registry,
      options: { logger: silentLogger, maxIncomingCalls: 100_000 },
    });
    connections.add(conn);
    conn.onStateChange((state) => {
      if (state === "disconnected" || state === "closed") {
        connections.delete(conn);
        conn.close();
      }
    });
    conn.attach(wsTransport(ws));
  });
  const address = wss.address();
  if (address === null || typeof address === "string") throw new Error("unexpected pipe address");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.close();
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
});

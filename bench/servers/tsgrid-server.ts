/**
 * tsgrid server: a `ws` server whose every connection gets a Connection (no Manager, no
 * handshake: the benchmark measures the mux) with the benchmark handlers.
 */
import { Connection, HandlerRegistry, wsTransport } from "tsgrid";
import { WebSocketServer } from "ws";
import { runServerChild } from "../lib/server-child.js";
import { registerBenchHandlers } from "../lib/tsgrid-handlers.js";
import { silentLogger } from "../lib/tsgrid-connect.js";

runServerChild(async () => {
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
    const conn = new Connection({ local: "server", remote: `client-${n++}`, handlers: registry, options: { logger: silentLogger } });
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

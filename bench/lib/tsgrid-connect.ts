/** Client side of the tsgrid rows: a bare Connection over a fresh `ws` WebSocket, or a Manager. */
import { Connection, HandlerRegistry, silentLogger, wsTransport } from "tsgrid";
import { WebSocket } from "ws";
import { instrument } from "./instrument.js";
import { gridAddress, startManager, waitConnected, type LinkOptions } from "./tsgrid-cluster.js";

export { silentLogger };

/**
 * The client's Manager, peered with the server child's (see servers/tsgrid-server.ts), with
 * the observability integrations of `instrumentKind` (bench/lib/instrument.ts) when not "none",
 * over the server's `link` (TLS, checksums).
 */
export async function connectManager(
  serverPort: number,
  clientPort: number,
  instrumentKind = "none",
  link: LinkOptions = {},
): Promise<{ conn: Connection; close(): Promise<void> }> {
  const secure = link.tls !== undefined;
  const server = gridAddress(serverPort, secure);
  const instrumented = await instrument(instrumentKind);
  const manager = await startManager(gridAddress(clientPort, secure), [server, gridAddress(clientPort, secure)], instrumented.interceptors, link);
  instrumented.attach(manager);
  await waitConnected(manager);
  return {
    conn: manager.connection(server),
    close: async () => {
      await manager.close();
      await instrumented.close();
    },
  };
}

export async function connectTsgrid(port: number, name = "client"): Promise<Connection> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const conn = new Connection({ local: name, remote: "server", handlers: new HandlerRegistry(), options: { logger: silentLogger } });
  conn.attach(wsTransport(ws));
  return conn;
}

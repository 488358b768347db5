/** Client side of the tsgrid rows: one Connection over a fresh `ws` WebSocket, no Manager. */
import { Connection, HandlerRegistry, wsTransport, type Logger } from "tsgrid";
import { WebSocket } from "ws";

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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

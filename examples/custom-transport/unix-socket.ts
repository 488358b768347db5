/**
 * tsgrid over Unix sockets instead of TCP ports: a `ConnDialer` opens the byte stream to a
 * peer, `manager.incomingConn` serves the streams that arrive. The WebSocket upgrade and the
 * tsgrid protocol run on top unchanged, so this works for any reliable byte stream (a tunnel,
 * a proxy, an in-memory pipe).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Manager, sharedSecretAuth, type ConnDialer } from "tsgrid";

const ECHO = 1; // handler id

export async function main(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "tsgrid-unix-"));
  // Servers are still named by ws:// URLs (the names travel in the handshake); the
  // dialer decides what a name means. Here: a socket file per server.
  const hosts = ["ws://alpha/grid", "ws://beta/grid"];
  const socketPath = (address: string): string => join(dir, `${new URL(address).hostname}.sock`);

  // #region unix-dialer
  const unixDialer: ConnDialer = (address, signal) =>
    new Promise((resolve, reject) => {
      const socket = createConnection(socketPath(address));
      const onAbort = (): void => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => {
        signal.removeEventListener("abort", onAbort);
        resolve(socket);
      });
      socket.once("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      });
    });
  // #endregion unix-dialer

  const managers: Manager[] = [];
  const servers: Server[] = [];
  try {
    for (const local of hosts) {
      // #region unix-listen
      const manager = new Manager({ local, hosts, dialer: unixDialer, auth: sharedSecretAuth("s3cret") });
      const server = createServer((socket) => manager.incomingConn(socket));
      await new Promise<void>((resolve) => server.listen(socketPath(local), resolve));
      // #endregion unix-listen
      manager.registerSingle(ECHO, (payload, ctx) => new TextEncoder().encode(`${local} got "${new TextDecoder().decode(payload)}" from ${ctx.caller}`));
      managers.push(manager);
      servers.push(server);
    }
    const [alpha] = managers;
    const conn = alpha!.connection("ws://beta/grid");
    await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
    const reply = await conn.request(ECHO, new TextEncoder().encode("hello over a unix socket"));
    return new TextDecoder().decode(reply);
  } finally {
    await Promise.all(managers.map((m) => m.close()));
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    rmSync(dir, { recursive: true, force: true });
  }
}

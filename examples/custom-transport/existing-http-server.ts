/**
 * A Manager mounted on an http.Server the application already has: its ordinary routes keep
 * working, and WebSocket upgrades on the grid path are handed to `manager.handleUpgrade`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Manager, sharedSecretAuth } from "tsgrid";

const TIME = 2; // handler id

export interface HttpServerDemoResult {
  /** What GET /health answered (an ordinary route, same port as the grid). */
  health: string;
  /** What the grid call answered. */
  reply: string;
}

/** An existing application server: it listens first, so its port is known (port 0 = any free one). */
async function appServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === "/health") res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

export async function main(): Promise<HttpServerDemoResult> {
  const apps = [await appServer(), await appServer()];
  const hosts = apps.map(({ port }) => `ws://127.0.0.1:${port}/grid`);
  const managers: Manager[] = [];
  try {
    for (const [i, { server }] of apps.entries()) {
      const local = hosts[i]!;
      // #region mount-on-http-server
      const manager = new Manager({ local, hosts, auth: sharedSecretAuth("s3cret") });
      server.on("upgrade", (req, socket, head) => manager.handleUpgrade(req, socket, head));
      // #endregion mount-on-http-server
      manager.registerSingle(TIME, () => new TextEncoder().encode(`it is ${new Date(0).toISOString()} at ${local}`));
      managers.push(manager);
    }
    const health = await (await fetch(`http://127.0.0.1:${apps[1]!.port}/health`)).text();
    const conn = managers[0]!.connection(hosts[1]!);
    await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
    const reply = new TextDecoder().decode(await conn.request(TIME, new Uint8Array()));
    return { health, reply };
  } finally {
    await Promise.all(managers.map((m) => m.close()));
    await Promise.all(
      apps.map(({ server }) => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
    );
  }
}

/**
 * Ports the OS says are free right now, for examples and tests that start several servers.
 * The ports are held open together (so they are distinct), then released; a server names
 * itself after its port before it listens, which is why port 0 cannot be used directly.
 */
import { createServer, type AddressInfo, type Server } from "node:net";

export async function freePorts(n: number, host = "127.0.0.1"): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, resolve);
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

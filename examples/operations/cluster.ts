/**
 * A three-server cluster in one process (docs/operations.md quotes this file): each server
 * creates one Manager, and every pair of servers shares one connection.
 *   npm run build && node dist/examples/operations/cluster.js
 */
import { fileURLToPath } from "node:url";
import { Manager, sharedSecretAuth, type Connection } from "tsgrid";
import { freePorts } from "../free-ports.js";

const ECHO = 1; // handler id

/** What one server does at start-up. In production `local`, `hosts` and `secret` come from its configuration. */
export async function startServer(local: string, hosts: readonly string[], secret: string): Promise<Manager> {
  // #region manager
  const manager = new Manager({
    local, // this server's address, also its name: "ws://10.0.0.1:9001/grid"
    hosts, // every server's address, the same list on every server
    auth: sharedSecretAuth(secret), // see docs/auth.md
  });
  manager.registerSingle(ECHO, (payload) => payload); // or a generated server's register()
  await manager.listen(); // or handleUpgrade / incomingConn
  // #endregion manager
  return manager;
}

export interface ClusterRun {
  hosts: string[];
  managers: Manager[];
  /** What the first server's call to the second returned. */
  reply: Uint8Array;
  /** The connection that made the call. */
  peer: Connection;
}

/** Starts three servers, makes one call, and leaves the cluster running (call `close`). */
export async function main(): Promise<ClusterRun & { close(): Promise<void> }> {
  const hosts = (await freePorts(3)).map((port) => `ws://127.0.0.1:${port}/grid`);
  const managers = await Promise.all(hosts.map((local) => startServer(local, hosts, "operations-example-secret")));
  const close = async (): Promise<void> => void (await Promise.all(managers.map((m) => m.close())));
  try {
    const [manager] = managers as [Manager];
    const other = hosts[1]!;
    // #region call
    const peer = manager.connection(other); // the same object for the Manager's whole life
    await peer.waitConnected({ signal: AbortSignal.timeout(5_000) });
    const reply = await peer.request(ECHO, new Uint8Array([1, 2, 3]));
    // ...
    await manager.close(); // at shutdown
    // #endregion call
    return { hosts, managers, reply, peer, close };
  } catch (err) {
    await close();
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await main();
  console.log(`reply: ${[...run.reply].join(",")}`);
  await run.close();
}

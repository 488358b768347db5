/** Managers for the benchmark: free loopback ports, a Manager with the bench handlers, readiness. */
import { createServer } from "node:net";
import { Manager, createTcpDialer, sharedSecretAuth, silentLogger, type Interceptors } from "tsgrid";
import type { BenchTls } from "./tls-certs.js";
import { registerBenchHandlers } from "./tsgrid-handlers.js";

/** How long a benchmark Manager may take to connect to all its peers, ms. */
const CONNECT_TIMEOUT_MS = 15_000;

/** An ephemeral loopback port that was free a moment ago (Manager addresses need the port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const gridAddress = (port: number, secure = false): string => `${secure ? "wss" : "ws"}://127.0.0.1:${port}/grid`;

/** The cluster secret of every bench Manager: they run authenticated, as users should. */
const BENCH_SECRET = "tsgrid-bench-secret";

/** How a benchmark link runs: mutual TLS (wss://), frame checksums. */
export interface LinkOptions {
  tls?: BenchTls;
  checksum?: boolean;
  /** ManagerOptions.maskFrames (tuned rows "nomask": false). */
  maskFrames?: boolean;
}

/**
 * A Manager serving the bench handlers, with `sharedSecretAuth` and default options (and
 * `interceptors`, e.g. bench/lib/instrument.ts; `link`: TLS, checksums), listening unless
 * `listen` is false.
 */
export async function startManager(
  local: string,
  hosts: readonly string[],
  interceptors?: Interceptors,
  link: LinkOptions = {},
  listen = true,
  /** Called with the Manager right after `new Manager` (before its first dial can finish). */
  observe?: (manager: Manager) => void,
): Promise<Manager> {
  const manager = new Manager({
    local,
    hosts,
    logger: silentLogger,
    auth: sharedSecretAuth(BENCH_SECRET),
    interceptors,
    ...(link.checksum ? { checksum: true } : {}),
    ...(link.maskFrames === false ? { maskFrames: false } : {}),
    ...(link.tls ? { dialer: createTcpDialer({ tls: link.tls }) } : {}),
  });
  observe?.(manager);
  registerBenchHandlers(manager);
  if (listen) await manager.listen(link.tls ? { tls: { ...link.tls, requestCert: true, rejectUnauthorized: true } } : {});
  return manager;
}

/** Resolves once the Manager is connected to every peer (bounded by a timeout). */
export async function waitConnected(manager: Manager): Promise<void> {
  const signal = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
  // A before/after baseline (bench/lib/baseline.ts) may run a runtime older than
  // Manager.waitConnected (round 1's): wait for each peer's connection there.
  if (typeof (manager as Partial<Pick<Manager, "waitConnected">>).waitConnected !== "function") {
    await Promise.all(manager.peers.map((peer) => manager.connection(peer).waitConnected({ signal })));
    return;
  }
  await manager.waitConnected({ signal });
}

/**
 * A server of a mutual-TLS cluster (docs/deployment.md quotes this file; the TLS tests run
 * it). Every server presents a certificate signed by the cluster's CA, both when it serves
 * and when it dials, and refuses peers whose certificate is not.
 */
import { Manager, createTcpDialer, sharedSecretAuth, type ManagerOptions } from "tsgrid";

/** PEM contents (read from files mounted from your secret store). */
export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

/** Creates the Manager, lets `register` add handlers, then listens. */
export async function startTlsServer(
  local: string,
  hosts: readonly string[],
  secret: string,
  tls: TlsFiles,
  register: (manager: Manager) => void = () => {},
  extra: Partial<ManagerOptions> = {},
): Promise<Manager> {
  // #region mutual-tls
  const manager = new Manager({
    local, // e.g. wss://node1.grid.internal:7400/grid
    hosts, // every server, wss:// too
    auth: sharedSecretAuth(secret),
    // Dialling: present our certificate; verify the peer's against `ca` and the dialled name.
    dialer: createTcpDialer({ tls }),
    ...extra,
  });
  register(manager);
  // Serving: our certificate; ask every peer for one signed by `ca`, refuse the others.
  await manager.listen({ tls: { ...tls, requestCert: true, rejectUnauthorized: true } });
  // #endregion mutual-tls
  return manager;
}

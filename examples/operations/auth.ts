/**
 * Authenticating a cluster (docs/auth.md quotes this file): the one-line shared secret, and
 * an own `ClusterAuth` that rotates the secret without downtime and keeps strangers out.
 *   npm run build && node dist/examples/operations/auth.js
 */
import { fileURLToPath } from "node:url";
import { GridError, Manager, sharedSecretAuth, type ClusterAuth, type Logger } from "tsgrid";
import { freePorts } from "../free-ports.js";

export function sharedSecretServer(local: string, hosts: readonly string[], secret: string): Manager {
  // #region shared-secret
  const manager = new Manager({ local, hosts, auth: sharedSecretAuth(secret) });
  // #endregion shared-secret
  return manager;
}

// #region rotating-auth
/**
 * Signs with `current`, accepts tokens signed with any of `accepted`. To rotate a secret
 * without downtime: every server accepts [old, new]; then every server signs with new;
 * then every server drops old.
 */
export function rotatingSecretAuth(current: string, accepted: readonly string[]): ClusterAuth {
  const signer = sharedSecretAuth(current);
  const verifiers = accepted.map((secret) => sharedSecretAuth(secret));
  return {
    token: (remote, local, challenge) => signer.token(remote, local, challenge),
    async verify(token, remote, local, challenge) {
      for (const verifier of verifiers) if (await verifier.verify(token, remote, local, challenge)) return true;
      return false;
    },
  };
}
// #endregion rotating-auth

/** A handshake refusal as a server saw it. */
export interface Refusal {
  /** The server whose state listener reported it (the dialling side). */
  at: string;
  peer: string;
  code: string | undefined;
  message: string;
}

export interface AuthRun {
  /** Two servers with `sharedSecretAuth`: connected. */
  sharedSecretConnected: boolean;
  /** Mid-rotation: `rotated` signs with the new secret, `pending` still with the old one. */
  rotated: string;
  pending: string;
  stranger: string;
  rotationConnected: boolean;
  /** What the dialling sides saw of the stranger's handshakes. */
  refusals: Refusal[];
  /** Everything logged at error level, with its fields. */
  errorLogs: { message: string; fields: Record<string, unknown> | undefined }[];
}

export async function main(): Promise<AuthRun> {
  const ports = await freePorts(5);
  const url = (port: number): string => `ws://127.0.0.1:${port}/grid`;
  const managers: Manager[] = [];
  try {
    // 1. One line: every server shares the secret.
    const pair = ports.slice(0, 2).map(url);
    for (const local of pair) managers.push(sharedSecretServer(local, pair, "a shared secret of at least 32 random bytes"));
    await Promise.all(managers.map((m) => m.listen()));
    // Each side is connected once it has checked the other's token: wait for both.
    const both = managers.map((m) => m.connection(m.peers[0]!).waitConnected({ signal: AbortSignal.timeout(5_000) }));
    const sharedSecretConnected = await Promise.all(both).then(() => true, () => false);

    // 2. A rotation in progress, and a server that knows neither secret.
    const [rotated, pending, stranger] = ports.slice(2).map(url) as [string, string, string];
    const hosts = [rotated, pending, stranger];
    const errorLogs: AuthRun["errorLogs"] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (message, fields) => void errorLogs.push({ message, fields }),
    };
    const auths: Record<string, ClusterAuth> = {
      [rotated]: rotatingSecretAuth("new secret", ["old secret", "new secret"]),
      [pending]: rotatingSecretAuth("old secret", ["old secret", "new secret"]),
      [stranger]: sharedSecretAuth("a guess"),
    };
    const refusals: Refusal[] = [];
    const trio = hosts.map((local) => new Manager({ local, hosts, auth: auths[local]!, logger }));
    managers.push(...trio);
    for (const manager of trio) {
      manager.onStateChange((peer, _state, _previous, reason) => {
        if (reason !== undefined && (peer === stranger || manager.local === stranger)) {
          refusals.push({ at: manager.local, peer, code: reason instanceof GridError ? reason.code : undefined, message: reason.message });
        }
      });
    }
    await Promise.all(trio.map((m) => m.listen()));
    const rotation = [trio[0]!.connection(pending), trio[1]!.connection(rotated)];
    const rotationConnected = await Promise.all(rotation.map((c) => c.waitConnected({ signal: AbortSignal.timeout(5_000) }))).then(
      () => true,
      () => false,
    );
    // Both pairs with the stranger are refused, whichever side dials.
    const until = Date.now() + 5_000;
    const pairsRefused = (): boolean =>
      [rotated, pending].every((good) => refusals.some((r) => (r.at === good && r.peer === stranger) || (r.at === stranger && r.peer === good)));
    while (!pairsRefused() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
    return { sharedSecretConnected, rotated, pending, stranger, rotationConnected, refusals, errorLogs };
  } finally {
    await Promise.all(managers.map((m) => m.close()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await main();
  console.log(`rotation connected: ${run.rotationConnected}`);
  for (const r of run.refusals) console.log(`${r.at}: ${r.message}`);
}

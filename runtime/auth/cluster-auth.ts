/**
 * How the servers of a cluster prove to each other that they belong to it.
 *
 * At the handshake the dialling side sends `token(remote, local)`; the listening side
 * checks it with `verify(token, remote, local)` (there `remote` is the dialler) and answers
 * with its own token, which the dialling side verifies the same way: authentication is
 * mutual. Tokens never reach a logger.
 */
export interface ClusterAuth {
  /** A token proving that `local` is allowed to talk to `remote`. */
  token(remote: string, local: string): string | Promise<string>;
  /** Whether `token`, presented by `remote` to `local`, is valid. Must not throw. */
  verify(token: string, remote: string, local: string): boolean | Promise<boolean>;
}

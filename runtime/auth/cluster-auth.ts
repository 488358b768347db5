/**
 * How the servers of a cluster prove to each other that they belong to it.
 *
 * Challenge-response, both ways, in the one round trip of the handshake:
 *   - the listening side puts a fresh random challenge in its HTTP 101 upgrade answer;
 *   - the dialling side sends `token(remote, local, thatChallenge)` in its Connect, along
 *     with a fresh challenge of its own; the listening side checks it with
 *     `verify(token, remote, local, thatChallenge)` (there `remote` is the dialler);
 *   - the listening side answers with `token(dialler, local, dialler'sChallenge)`, which the
 *     dialling side verifies the same way.
 * Each challenge is random, held by one link only and never reused, so a captured token is
 * worthless on any other link, before or after a restart: no nonce memory is needed.
 * Tokens never reach a logger.
 */
export interface ClusterAuth {
  /**
   * A token proving that `local` is allowed to talk to `remote`, bound to `challenge` (the
   * fresh value `remote` issued for this link). A token that does not bind the challenge can
   * be replayed by whoever captures it.
   */
  token(remote: string, local: string, challenge: string): string | Promise<string>;
  /** Whether `token`, presented by `remote` to `local` for this link's `challenge`, is valid. Must not throw. */
  verify(token: string, remote: string, local: string, challenge: string): boolean | Promise<boolean>;
}

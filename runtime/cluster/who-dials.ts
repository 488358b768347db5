/**
 * Who dials: for every pair of servers exactly one side opens the connection, the other
 * waits for it. Both sides compute the answer from the two names alone, so they agree
 * without talking, whatever order they start in.
 *
 * Hashing (local, remote) against (remote, local) instead of comparing the names spreads
 * the dialling evenly: with plain name order the "smallest" server would dial everyone.
 */
import { createHash } from "node:crypto";

function pairHash(first: string, second: string): Buffer {
  // The NUL separator keeps ("ab","c") and ("a","bc") apart.
  return createHash("sha256").update(first).update("\0").update(second).digest();
}

/** True when `local` must dial `remote`; false when it waits for `remote` to dial it. */
export function shouldDial(local: string, remote: string): boolean {
  if (local === remote) throw new RangeError(`a server does not dial itself: ${local}`);
  const order = Buffer.compare(pairHash(local, remote), pairHash(remote, local));
  if (order !== 0) return order < 0;
  // Equal hashes (practically never): fall back to name order, which is antisymmetric.
  return local < remote;
}

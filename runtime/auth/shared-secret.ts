/**
 * `sharedSecretAuth(secret)`: a cluster is authenticated with one line when every server
 * knows the same secret.
 *
 * Token: `v2.<mac, base64url>` where
 * mac = HMAC-SHA256(secret, "tsgrid-auth-v2\n" + from + "\n" + to + "\n" + challenge).
 * Binding both names and the direction means a token is useless on another link or
 * reflected back at its sender; binding the challenge (fresh and random per link, issued by
 * the verifier: see cluster-auth.ts) means it cannot be replayed at all, even after the
 * verifier restarts. The verifier keeps no state.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { ClusterAuth } from "./cluster-auth.js";

const VERSION = "v2";
const MAC_BYTES = 32;
/** Challenges are issued by tsgrid (24 base64url chars); anything far longer is refused. */
const MAX_CHALLENGE_CHARS = 256;
const tokenPattern = /^v2\.([A-Za-z0-9_-]{43})$/;

/** Mutual HMAC-SHA256 challenge-response auth from a secret shared by every server of the cluster. */
export function sharedSecretAuth(secret: string | Uint8Array): ClusterAuth {
  const key = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (key.byteLength === 0) throw new RangeError("sharedSecretAuth needs a non-empty secret");

  const mac = (from: string, to: string, challenge: string): Buffer =>
    createHmac("sha256", key).update(`tsgrid-auth-${VERSION}\n${from}\n${to}\n${challenge}`).digest();
  const validChallenge = (challenge: unknown): challenge is string =>
    typeof challenge === "string" && challenge.length > 0 && challenge.length <= MAX_CHALLENGE_CHARS;

  return {
    token(remote: string, local: string, challenge: string): string {
      if (!validChallenge(challenge)) throw new RangeError("sharedSecretAuth: no valid challenge to sign");
      return `${VERSION}.${mac(local, remote, challenge).toString("base64url")}`;
    },
    verify(token: string, remote: string, local: string, challenge: string): boolean {
      if (typeof token !== "string" || !validChallenge(challenge)) return false;
      const match = tokenPattern.exec(token);
      if (match === null) return false;
      const presented = Buffer.from(match[1]!, "base64url");
      if (presented.byteLength !== MAC_BYTES) return false;
      return timingSafeEqual(presented, mac(remote, local, challenge));
    },
  };
}

/**
 * `sharedSecretAuth(secret)`: a cluster is authenticated with one line when every server
 * knows the same secret.
 *
 * Token: `v1.<time ms, base 36>.<nonce, base64url>.<mac, base64url>` where
 * mac = HMAC-SHA256(secret, "tsgrid-auth-v1\n" + from + "\n" + to + "\n" + time + "\n" + nonce).
 * Binding both names and the direction means a token captured on one link cannot be
 * replayed on another or back at its sender; the time bounds its life, and the nonces seen
 * within that life are remembered so it cannot be replayed on the same link either.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ClusterAuth } from "./cluster-auth.js";

export interface SharedSecretAuthOptions {
  /** A token older or newer than this (by the verifier's clock) is refused. Default 300_000 (5 min). */
  maxSkewMs?: number;
  /**
   * Nonces remembered to refuse replays, at most. When full, new tokens are refused until
   * old entries expire (fail closed). Default 100_000.
   */
  maxRememberedNonces?: number;
  /** Clock, injectable for tests. Default `Date.now`. */
  now?: () => number;
}

const VERSION = "v1";
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const MAX_TOKEN_CHARS = 200;
const tokenPattern = /^v1\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** Mutual HMAC-SHA256 auth from a secret shared by every server of the cluster. */
export function sharedSecretAuth(secret: string | Uint8Array, options: SharedSecretAuthOptions = {}): ClusterAuth {
  const key = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (key.byteLength === 0) throw new RangeError("sharedSecretAuth needs a non-empty secret");
  const maxSkewMs = options.maxSkewMs ?? 300_000;
  const maxNonces = options.maxRememberedNonces ?? 100_000;
  const now = options.now ?? Date.now;
  // nonce -> time after which it can be forgotten (its token has expired anyway).
  const seen = new Map<string, number>();

  const mac = (from: string, to: string, time: string, nonce: string): Buffer =>
    createHmac("sha256", key).update(`tsgrid-auth-${VERSION}\n${from}\n${to}\n${time}\n${nonce}`).digest();

  const forgetExpired = (at: number): void => {
    // Map iteration is insertion order, close to expiry order: stop at the first live one.
    for (const [nonce, expiry] of seen) {
      if (expiry > at) break;
      seen.delete(nonce);
    }
  };

  return {
    token(remote: string, local: string): string {
      const time = now().toString(36);
      const nonce = randomBytes(NONCE_BYTES).toString("base64url");
      return `${VERSION}.${time}.${nonce}.${mac(local, remote, time, nonce).toString("base64url")}`;
    },
    verify(token: string, remote: string, local: string): boolean {
      if (typeof token !== "string" || token.length > MAX_TOKEN_CHARS) return false;
      const match = tokenPattern.exec(token);
      if (match === null) return false;
      const [, time, nonce, macText] = match as unknown as [string, string, string, string];
      const at = now();
      const issued = parseInt(time, 36);
      if (!Number.isSafeInteger(issued) || Math.abs(at - issued) > maxSkewMs) return false;
      const presented = Buffer.from(macText, "base64url");
      if (presented.byteLength !== MAC_BYTES) return false;
      if (!timingSafeEqual(presented, mac(remote, local, time, nonce))) return false;
      forgetExpired(at);
      if (seen.has(nonce) || seen.size >= maxNonces) return false;
      seen.set(nonce, Math.max(issued, at) + maxSkewMs);
      return true;
    },
  };
}

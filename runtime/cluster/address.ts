/**
 * Server addresses: a server's address is also its name in the cluster, and both sides of a
 * pair derive who dials from the two names (who-dials.ts). Two spellings of one address
 * (`ws://Host:80/grid/` and `ws://host/grid`) must therefore be one name: every address is
 * put in a canonical form before it is used, compared or sent.
 *
 * Canonical form: `ws://` or `wss://`, the host in lower case (IPv6 in brackets), the port
 * only when it is not the scheme's default (80, 443), the path without trailing slashes (no
 * path at all for the root), the query kept, no fragment, no credentials.
 */

/** The canonical form of a server address; RangeError when it is not a ws:// or wss:// URL. */
export function canonicalAddress(address: string, what = "address"): string {
  return canonicalUrl(address, what).href.replace(/\/$/, "");
}

/** The parsed URL of a server address, in canonical form (see `canonicalAddress`). */
export function canonicalUrl(address: string, what = "address"): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RangeError(`${what} ${JSON.stringify(address)} is not a URL`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new RangeError(`${what} ${address} must be a ws:// or wss:// URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new RangeError(`${what} ${url.host}${url.pathname} must not carry credentials (use the auth option)`);
  }
  // The WHATWG URL parser already lower-cases the scheme and host and drops a default port.
  url.hash = "";
  url.pathname = canonicalPath(url.pathname);
  return url;
}

/** A request path as the acceptor compares it: trailing slashes removed, `/` for the root. */
export function canonicalPath(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

/** `canonicalAddress`, or the text as it is when it is not an address (for lookups and logs). */
export function tryCanonicalAddress(address: string): string {
  try {
    return canonicalAddress(address);
  } catch {
    return address;
  }
}

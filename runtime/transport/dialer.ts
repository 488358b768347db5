/**
 * A ConnDialer opens the byte stream a peer's WebSocket runs over. The default one speaks
 * TCP (TLS for `wss://`); a custom one can use a Unix socket, a proxy, an SSH tunnel or an
 * in-memory pipe: the WebSocket upgrade and the tsgrid protocol then run on top unchanged.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { createSecureContext, connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from "node:tls";
import type { Duplex } from "node:stream";
import { AbortError, DisconnectedError } from "../errors.js";

/**
 * Opens a byte stream to the server at `address` (a `ws://` or `wss://` URL). Resolves once
 * the stream is open; rejects when it cannot be, or when `signal` aborts (then it must not
 * leave a socket behind).
 */
export type ConnDialer = (address: string, signal: AbortSignal) => Promise<Duplex>;

export interface TcpDialerOptions {
  /** Extra TLS options for `wss://` addresses (ca, cert, key, ...). */
  tls?: TlsConnectionOptions;
}

/**
 * A dialer over TCP, or TLS for `wss://` addresses. The TLS options' key, certificates and CAs
 * are parsed into one SecureContext, at the first secure dial, shared by every later dial
 * (`tls.connect` would build one per link: ~1.7 ms of CPU each on a small machine, 15 per
 * node when a 16-server cluster starts). A `secureContext` of your own is used as it is.
 */
export function createTcpDialer(options: TcpDialerOptions = {}): ConnDialer {
  let tls: TlsConnectionOptions | undefined = options.tls?.secureContext !== undefined ? options.tls : undefined;
  /** The TLS options with the shared SecureContext; a failure is the dial's, and is tried again next dial. */
  const tlsOptions = (): TlsConnectionOptions | undefined => {
    if (tls === undefined && options.tls !== undefined) tls = { ...options.tls, secureContext: createSecureContext(options.tls) };
    return tls;
  };
  return (address, signal) =>
    new Promise<Duplex>((resolve, reject) => {
      if (signal.aborted) {
        reject(new AbortError(`dial of ${address} aborted`, { cause: signal.reason }));
        return;
      }
      let url: URL;
      try {
        url = new URL(address);
      } catch (err) {
        reject(new DisconnectedError(`cannot dial ${address}: not a URL`, { cause: err }));
        return;
      }
      const secure = url.protocol === "wss:" || url.protocol === "https:";
      const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
      let socket: Socket;
      try {
        socket = secure
          ? tlsConnect({
              ALPNProtocols: ["http/1.1"],
              ...(isIP(host) === 0 ? { servername: host } : {}),
              ...tlsOptions(),
              host,
              port,
            })
          : netConnect({ host, port });
      } catch (err) {
        reject(new DisconnectedError(`cannot dial ${address}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        return;
      }
      const cleanup = (): void => {
        socket.off(secure ? "secureConnect" : "connect", onConnect);
        socket.off("error", onError);
        signal.removeEventListener("abort", onAbort);
      };
      const onConnect = (): void => {
        cleanup();
        socket.setNoDelay(true);
        resolve(socket);
      };
      const onError = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(new DisconnectedError(`cannot dial ${address}: ${err.message}`, { cause: err }));
      };
      const onAbort = (): void => {
        cleanup();
        socket.destroy();
        reject(new AbortError(`dial of ${address} aborted`, { cause: signal.reason }));
      };
      socket.once(secure ? "secureConnect" : "connect", onConnect);
      socket.once("error", onError);
      signal.addEventListener("abort", onAbort, { once: true });
    });
}

/** The default dialer: TCP, TLS for `wss://`. */
export const tcpDialer: ConnDialer = createTcpDialer();

/**
 * A ConnDialer opens the byte stream a peer's WebSocket runs over. The default one speaks
 * TCP (TLS for `wss://`); a custom one can use a Unix socket, a proxy, an SSH tunnel or an
 * in-memory pipe: the WebSocket upgrade and the tsgrid protocol then run on top unchanged.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from "node:tls";
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

/** A dialer over TCP, or TLS for `wss://` addresses. */
export function createTcpDialer(options: TcpDialerOptions = {}): ConnDialer {
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
      const socket: Socket = secure
        ? tlsConnect({
            ALPNProtocols: ["http/1.1"],
            ...(isIP(host) === 0 ? { servername: host } : {}),
            ...options.tls,
            host,
            port,
          })
        : netConnect({ host, port });
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

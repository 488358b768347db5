/**
 * connectWS: the client side of a WebSocket over any ConnDialer's byte stream.
 *
 * The dialer opens the stream first (it may be async: a proxy, a tunnel); ws then runs its
 * HTTP upgrade over that already-open stream through its `createConnection` option.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket } from "ws";
import { AbortError, DisconnectedError, GridError } from "../errors.js";
import { abortable } from "./abortable.js";
import { tcpDialer, type ConnDialer } from "./dialer.js";

export interface ConnectWSOptions {
  /** Opens the byte stream. Default: `tcpDialer` (TCP, TLS for `wss://`). */
  dialer?: ConnDialer;
  /** Extra headers of the upgrade request. */
  headers?: Record<string, string>;
  /** Aborts the dial and the upgrade; the stream is destroyed. */
  signal?: AbortSignal;
  /** Largest WebSocket message accepted, in bytes. Default 64 MiB. */
  maxPayload?: number;
  /**
   * Mask what is sent with a random key, as RFC 6455 requires of a client (default true);
   * false sends an all-zero key: no masking pass, no copy (see ManagerOptions.maskFrames).
   */
  maskFrames?: boolean;
  /** Sees the HTTP 101 answer (its headers) before the WebSocket opens. */
  onUpgrade?: (response: IncomingMessage) => void;
}

const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;

/**
 * ws's masking-key hook (ws >= 8.4): the key stays all zeros. ws then sends the payload
 * as it is, and a ws receiver skips unmasking.
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

function abortError(address: string, signal: AbortSignal): AbortError {
  return new AbortError(`connect to ${address} aborted`, { cause: signal.reason });
}

/**
 * Opens a WebSocket to `address` (`ws://` or `wss://`) over `options.dialer`'s stream.
 * Rejects with DisconnectedError when the stream or the upgrade fails, AbortError on abort.
 * Binary frames only, no compression: the mux frames its own messages.
 */
export async function connectWS(address: string, options: ConnectWSOptions = {}): Promise<WebSocket> {
  const signal = options.signal ?? new AbortController().signal;
  if (signal.aborted) throw abortError(address, signal);
  // A custom dialer may ignore the signal: the abort still ends the wait, and a stream it
  // delivers afterwards is destroyed.
  const stream: Duplex = await abortable(
    (options.dialer ?? tcpDialer)(address, signal),
    signal,
    () => abortError(address, signal),
    (late) => late.destroy(),
  );
  let ws: WebSocket;
  try {
    ws = new WebSocket(address, {
      // ws calls socket methods only when present, so any Duplex works here.
      createConnection: () => stream as Socket,
      headers: options.headers,
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      ...(options.maskFrames === false ? { generateMask: zeroMask } : {}),
    });
  } catch (err) {
    stream.destroy();
    throw new DisconnectedError(`cannot connect to ${address}: ${(err as Error).message}`, { cause: err });
  }
  ws.binaryType = "nodebuffer";
  return new Promise<WebSocket>((resolve, reject) => {
    let done = false;
    const settle = (err: GridError | undefined): void => {
      if (done) return;
      done = true;
      ws.off("open", onOpen);
      ws.off("unexpected-response", onUnexpected);
      signal.removeEventListener("abort", onAbort);
      if (err === undefined) {
        ws.off("error", onError);
        resolve(ws);
        return;
      }
      // Keep a listener: a late 'error' from the dying socket must not crash the process.
      ws.terminate();
      stream.destroy();
      reject(err);
    };
    const onOpen = (): void => settle(undefined);
    const onError = (err: Error): void =>
      settle(new DisconnectedError(`cannot connect to ${address}: ${err.message}`, { cause: err }));
    const onUnexpected = (_req: unknown, res: { statusCode?: number }): void =>
      settle(new DisconnectedError(`${address} refused the WebSocket upgrade with HTTP ${res.statusCode ?? "?"}`));
    const onAbort = (): void => settle(abortError(address, signal));
    if (options.onUpgrade !== undefined) ws.once("upgrade", options.onUpgrade);
    ws.once("open", onOpen);
    ws.on("error", onError);
    ws.once("unexpected-response", onUnexpected);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

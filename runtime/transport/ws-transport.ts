/**
 * A MessageTransport over a `ws` WebSocket: binary messages only, no compression. A text
 * message from the peer is refused: the socket is dropped with a ProtocolError as reason.
 *
 * Messages that arrive before `setHandlers` (during the Manager's handshake hand-over) are
 * buffered and delivered, in order, when the handlers are installed. `onClose` is called
 * exactly once, whatever closes the socket.
 */
import { WebSocket } from "ws";
import type { RawData } from "ws";
import { DisconnectedError, ProtocolError } from "../errors.js";
import type { MessageTransport, TransportHandlers } from "./message-transport.js";

const sendOptions = { binary: true, compress: false } as const;
/** A part of a message sent in parts, but not its last: a WebSocket fragment without FIN. */
const partOptions = { binary: true, compress: false, fin: false } as const;
const EMPTY = new Uint8Array(0);

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return data.length === 1 ? data[0]! : data.length === 0 ? EMPTY : Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

class WsTransport implements MessageTransport {
  private handlers: TransportHandlers | undefined;
  private early: Uint8Array[] = [];
  private closed = false;
  private closeReason: Error | undefined;
  private closeReported = false;
  /** A text message arrived: nothing more is delivered. */
  private refused = false;

  constructor(private readonly ws: WebSocket) {
    // Messages arrive as the list of their WebSocket fragments, never joined by ws: a frame
    // sent in parts (`sendParts`) is decoded from its parts, its payload not copied again.
    ws.binaryType = "fragments";
    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (this.refused) return;
      if (!isBinary) {
        // The protocol is binary only (docs/PROTOCOL.md): a text message is never parsed as
        // a frame. It ends the link as a protocol error, like any malformed frame.
        this.refused = true;
        this.closeReason ??= new ProtocolError("text WebSocket message received: the protocol is binary only");
        ws.terminate();
        return;
      }
      const handlers = this.handlers;
      if (handlers !== undefined && handlers.onParts !== undefined && Array.isArray(data) && data.length > 1) {
        handlers.onParts(data);
        return;
      }
      const bytes = toBytes(data);
      if (handlers === undefined) this.early.push(bytes);
      else handlers.onMessage(bytes);
    });
    ws.on("error", (err: Error) => {
      this.closeReason ??= new DisconnectedError(`websocket error: ${err.message}`, { cause: err });
    });
    ws.on("close", (code: number, reason: Buffer) => {
      this.closed = true;
      this.closeReason ??= new DisconnectedError(`websocket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ""})`);
      this.reportClose();
    });
    if (ws.readyState === WebSocket.CLOSED) {
      this.closed = true;
      this.closeReason = new DisconnectedError("websocket already closed");
    }
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: Uint8Array): void {
    // After close the bytes have nowhere to go; onClose tells the owner.
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data, sendOptions);
  }

  sendParts(parts: readonly Uint8Array[]): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    // Sent back to back (ws queues them in order): no other message can come in between.
    // The socket is corked around them so the fragments leave in one write (one segment
    // train, one wake-up of the reader) instead of one each: ws corks each fragment only.
    this.cork();
    try {
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) this.ws.send(parts[i]!, partOptions);
      this.ws.send(parts[last]!, sendOptions);
    } finally {
      this.uncork();
    }
  }

  // Node counts nested corks, and ws's own cork around each frame nests inside ours.
  cork(): void {
    this.socket()?.cork?.();
  }

  uncork(): void {
    this.socket()?.uncork?.();
  }

  /** ws's `_socket` (undocumented, stable since ws 1): without it, no cork. */
  private socket(): { cork?(): void; uncork?(): void } | undefined {
    return (this.ws as unknown as { _socket?: { cork?(): void; uncork?(): void } })._socket;
  }

  pause(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.pause();
  }

  resume(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.resume();
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const bytes of early) {
      if (this.handlers !== handlers) return; // replaced while delivering
      handlers.onMessage(bytes);
    }
    if (this.closed) this.reportClose();
  }

  close(code = 1000, reason?: string): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) return;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  terminate(): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.terminate();
  }

  private reportClose(): void {
    if (this.closeReported || this.handlers === undefined) return;
    this.closeReported = true;
    this.handlers.onClose(this.closeReason);
  }
}

/** Wraps an open (or opening) `ws` WebSocket as a MessageTransport. */
export function wsTransport(ws: WebSocket): MessageTransport {
  return new WsTransport(ws);
}

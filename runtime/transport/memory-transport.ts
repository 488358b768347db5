/**
 * Two MessageTransports joined in memory, for fast tests and benchmarks without sockets.
 *
 * Like a socket, delivery is asynchronous (a macrotask later, batched) and ordered; sent
 * bytes are copied, so the sender may reuse its buffer. `bufferedAmount` counts bytes sent
 * and not yet delivered.
 */
import { DisconnectedError } from "../errors.js";
import type { MessageTransport, TransportHandlers } from "./message-transport.js";

class MemoryEnd implements MessageTransport {
  peer!: MemoryEnd;
  private handlers: TransportHandlers | undefined;
  /** Messages sent to this end, not yet delivered. */
  private inbox: (Uint8Array | Uint8Array[])[] = [];
  private inboxBytes = 0;
  private scheduled = false;
  private closing = false;
  private closed = false;
  private closeReason: Error | undefined;
  private closeReported = false;

  /** Bytes this end sent that the peer has not received yet. */
  get bufferedAmount(): number {
    return this.peer.inboxBytes;
  }

  send(data: Uint8Array): void {
    if (this.closing || this.closed) return;
    this.peer.receive(data.slice(), data.byteLength);
  }

  /** Delivered as parts (each copied), like WebSocket fragments: `onParts`, or joined. */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.closing || this.closed) return;
    let bytes = 0;
    for (const part of parts) bytes += part.byteLength;
    this.peer.receive(parts.map((part) => part.slice()), bytes);
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    this.schedule();
  }

  close(_code?: number, reason?: string): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    // Graceful: what was sent is still delivered, then both ends close.
    const err = new DisconnectedError(`memory transport closed${reason ? `: ${reason}` : ""}`);
    this.peer.finish(err, false);
    this.finish(err, false);
  }

  terminate(): void {
    if (this.closed) return;
    const err = new DisconnectedError("memory transport terminated");
    this.finish(err, true);
    this.peer.finish(err, true);
  }

  private receive(data: Uint8Array | Uint8Array[], bytes: number): void {
    if (this.closed) return;
    this.inbox.push(data);
    this.inboxBytes += bytes;
    this.schedule();
  }

  private finish(reason: Error, drop: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    if (drop) {
      this.inbox = [];
      this.inboxBytes = 0;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.handlers === undefined) return;
    if (this.inbox.length === 0 && !this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = false;
    const handlers = this.handlers;
    if (handlers === undefined) return;
    const batch = this.inbox;
    this.inbox = [];
    for (let i = 0; i < batch.length; i++) {
      if (this.handlers !== handlers) {
        // Replaced while delivering: the rest goes to the new handlers, in order.
        this.inbox = batch.slice(i).concat(this.inbox);
        this.schedule();
        return;
      }
      const data = batch[i]!;
      if (Array.isArray(data)) {
        for (const part of data) this.inboxBytes -= part.byteLength;
        if (handlers.onParts !== undefined) handlers.onParts(data);
        else handlers.onMessage(Buffer.concat(data));
      } else {
        this.inboxBytes -= data.byteLength;
        handlers.onMessage(data);
      }
    }
    if (this.closed && !this.closeReported && this.inbox.length === 0) {
      this.closeReported = true;
      this.inbox = [];
      this.inboxBytes = 0;
      handlers.onClose(this.closeReason);
    } else if (this.inbox.length > 0) {
      this.schedule();
    }
  }
}

/** A connected pair of in-memory transports: what one end sends, the other receives. */
export function memoryTransportPair(): [MessageTransport, MessageTransport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

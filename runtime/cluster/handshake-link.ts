/**
 * A fresh link during the handshake: reads the handshake message, holds back whatever
 * follows it, then hands the link over to the Connection with nothing lost.
 *
 * The hand-over cannot always happen in the same tick as the handshake message arrives (an
 * auth verifier may be async), and the peer may already send calls by then: they are
 * queued here and replayed, in order, when the Connection installs its handlers (which it
 * does in the same tick as it is given the link).
 */
import { DisconnectedError, ProtocolError } from "../errors.js";
import type { MessageTransport, TransportHandlers } from "../transport/message-transport.js";

export class HandshakeLink {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private waiter: { resolve(data: Uint8Array): void; reject(err: Error): void } | undefined;
  private closed = false;
  private closeReason: Error | undefined;
  private readonly closing = new AbortController();
  /**
   * Aborted when the link closes before it is handed over (timeout, peer gone): a handshake
   * step that finishes later (a slow auth hook) must not attach the dead link.
   */
  readonly signal: AbortSignal = this.closing.signal;
  /** Set once handed over: from then on messages no longer pass through here. */
  private owner: TransportHandlers | undefined;
  /**
   * Strict links only (the listening side): set when the peer sent more than the handshake
   * allows before it was answered. Nothing is held; the handshake is refused with it.
   */
  violation: ProtocolError | undefined;
  /** Set once refused: whatever still arrives is dropped unread. */
  private refused = false;

  /**
   * `onClosed` is called if the link closes before it is handed over. At most
   * `maxHeldBytes` are held back: a peer that sends more before its handshake is settled
   * (nothing legitimate does: calls only follow an accepted handshake, and only the dialler
   * may see a few before its own check of the answer ends) is dropped. A `strict` link (the
   * listening side, which never legitimately receives anything between Connect and its
   * answer) holds nothing: the excess is dropped and recorded in `violation` instead.
   */
  constructor(
    readonly transport: MessageTransport,
    onClosed?: () => void,
    private readonly maxHeldBytes = Number.POSITIVE_INFINITY,
    private readonly strict = false,
  ) {
    transport.setHandlers({
      onMessage: (data) => {
        const waiter = this.waiter;
        if (this.refused) return;
        if (waiter !== undefined) {
          this.waiter = undefined;
          waiter.resolve(data);
        } else if (this.strict && this.owner === undefined) {
          this.violation ??= new ProtocolError("sent more than its Connect before the handshake was answered");
        } else if (this.owner === undefined && this.queuedBytes + data.byteLength > this.maxHeldBytes) {
          this.closeReason ??= new ProtocolError(
            `more than ${this.maxHeldBytes} bytes sent before the handshake was settled`,
          );
          this.queue.length = 0;
          this.queuedBytes = 0;
          transport.terminate();
        } else {
          this.queuedBytes += data.byteLength;
          this.queue.push(data);
        }
      },
      onClose: (reason) => {
        this.closed = true;
        this.closeReason ??= reason ?? new DisconnectedError("link closed during the handshake");
        // Once handed over, `setHandlers` reports the close to the new owner itself.
        if (this.owner !== undefined) return;
        this.closing.abort(this.closeReason);
        const waiter = this.waiter;
        this.waiter = undefined;
        waiter?.reject(this.closeReason);
        onClosed?.();
      },
    });
  }

  /** The next message; rejects when the link closes first. Only one read at a time. */
  next(): Promise<Uint8Array> {
    const queued = this.queue.shift();
    if (queued !== undefined) {
      this.queuedBytes -= queued.byteLength;
      return Promise.resolve(queued);
    }
    if (this.closed) return Promise.reject(this.closeReason);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  send(data: Uint8Array): void {
    this.transport.send(data);
  }

  /** Drops the link (idempotent); a pending `next` rejects. */
  terminate(): void {
    this.transport.terminate();
  }

  /**
   * Sends `answer` (the refusal) and a WebSocket close, then drops the link as soon as they
   * are handed to the OS (at most `lingerMs` later): nothing more is read from a refused peer.
   */
  refuse(answer: Uint8Array, closeCode: number, lingerMs: number): void {
    this.refused = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    const transport = this.transport;
    transport.send(answer);
    transport.close(closeCode, "handshake refused");
    const until = Date.now() + lingerMs;
    const dropWhenFlushed = (): void => {
      if (this.closed) return;
      if (transport.bufferedAmount === 0 || Date.now() >= until) transport.terminate();
      else setTimeout(dropWhenFlushed, 5).unref();
    };
    dropWhenFlushed();
  }

  /**
   * The link as a MessageTransport for the Connection: its `setHandlers` first replays the
   * messages held back, then wires the handlers straight to the underlying transport.
   */
  handOver(): MessageTransport {
    const inner = this.transport;
    // The usual case: nothing held back. The Connection gets the transport itself (no
    // indirection on every send) and installs its handlers in the same tick, so nothing
    // can slip in between.
    if (this.queue.length === 0 && !this.closed) return inner;
    return {
      send: (data) => inner.send(data),
      ...(inner.sendParts !== undefined ? { sendParts: (parts: readonly Uint8Array[]) => inner.sendParts!(parts) } : {}),
      get bufferedAmount() {
        return inner.bufferedAmount;
      },
      pause: () => inner.pause?.(),
      resume: () => inner.resume?.(),
      setHandlers: (handlers) => {
        this.owner = handlers;
        while (this.queue.length > 0 && this.owner === handlers) handlers.onMessage(this.queue.shift()!);
        if (this.owner !== handlers) return;
        if (this.closed) {
          handlers.onClose(this.closeReason);
          return;
        }
        inner.setHandlers(handlers);
      },
      close: (code, reason) => inner.close(code, reason),
      terminate: () => inner.terminate(),
    };
  }
}

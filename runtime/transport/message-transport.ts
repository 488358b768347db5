/**
 * The seam between the mux and whatever carries its bytes: an ordered, reliable,
 * message-oriented link between two servers. A `ws` WebSocket is the usual one
 * (`wsTransport`); an in-memory pair makes tests fast (`memoryTransportPair`).
 */
export interface TransportHandlers {
  /** One whole message, in order. The buffer may be a view; copy what must outlive the call. */
  onMessage(data: Uint8Array): void;
  /**
   * One whole message that arrived in several parts (WebSocket fragments), in order, not
   * joined. Optional: without it the transport joins the parts and calls `onMessage`.
   */
  onParts?(parts: readonly Uint8Array[]): void;
  /** The link is gone (error, remote close, or our own close). Called exactly once. */
  onClose(reason: Error | undefined): void;
}

export interface MessageTransport {
  /** Queues one message. Never blocks; watch `bufferedAmount` for backpressure. */
  send(data: Uint8Array): void;
  /**
   * Queues one message made of `parts`, without joining them (a WebSocket fragment per
   * part): a large payload goes to the socket as it is, after its frame's head. The peer
   * receives the message `parts` joined would be. Optional: without it the writer joins the
   * parts itself. The parts are the transport's until written: never modified afterwards.
   */
  sendParts?(parts: readonly Uint8Array[]): void;
  /**
   * Holds the messages sent until `uncork` and hands them to the OS in one write (one
   * syscall and one wake-up of the reader for several messages). Calls nest; optional.
   */
  cork?(): void;
  uncork?(): void;
  /** Bytes queued by `send` and not yet handed to the OS. */
  readonly bufferedAmount: number;
  /** Installs the receiver. Messages that arrived before are delivered after this call. */
  setHandlers(handlers: TransportHandlers): void;
  /** Closes gracefully (idempotent); `onClose` follows. */
  close(code?: number, reason?: string): void;
  /** Drops the link at once, without a closing handshake (idempotent); `onClose` follows. */
  terminate(): void;
  /**
   * Stops delivering messages until `resume` (what the peer sends waits in the network):
   * the mux stops reading a peer that does not read what it is sent. Optional; a transport
   * without it is never paused.
   */
  pause?(): void;
  resume?(): void;
}

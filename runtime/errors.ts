/**
 * One error hierarchy for everything tsgrid rejects with.
 *
 * Every error is a `GridError` with a stable string `code` from a closed set. The code (not
 * the class) is what travels on the wire, so a caller can always tell a handler's own failure
 * (`remote`) from a deadline, a disconnect or a bad payload, whatever process raised it.
 */

/** The closed set of error codes. Stable: they are part of the wire protocol. */
export const ErrorCode = {
  /** The remote handler threw; its message is kept. */
  Remote: "remote",
  /** The connection was lost (or never established) before the call finished. */
  Disconnected: "disconnected",
  /** The call's deadline passed. */
  DeadlineExceeded: "deadline_exceeded",
  /** The caller (or the server side, for a stream) cancelled the call. */
  Aborted: "aborted",
  /** No handler is registered under that id (and subroute) on the remote. */
  UnknownHandler: "unknown_handler",
  /** The peer sent bytes that break the protocol. */
  Protocol: "protocol",
  /** A message exceeds the configured maximum size. */
  MessageTooLarge: "message_too_large",
  /** A payload does not match its schema (raised by generated codecs). */
  InvalidPayload: "invalid_payload",
  /** The handshake was refused: bad token, unknown host, wrong target, clock skew. */
  Unauthenticated: "unauthenticated",
  /**
   * The server is at one of its per-peer limits (concurrent calls or streams): nothing was
   * run; retry later or elsewhere.
   */
  ResourceExhausted: "resource_exhausted",
  /**
   * The peer is draining (shutting down gracefully) or this node is: the call was not started
   * and is safe to retry on another server.
   */
  Draining: "draining",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const knownCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Base class of every tsgrid error. The message is prefixed with the code: `[code] text`. */
export class GridError extends Error {
  readonly code: ErrorCode;
  /** The message without the `[code]` prefix, as it travels on the wire. */
  readonly rawMessage: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[${code}] ${message}`, options);
    this.code = code;
    this.rawMessage = message;
    this.name = new.target.name;
  }

  /**
   * Wraps anything thrown into a GridError: a GridError is returned as is, anything else
   * becomes a `RemoteError` carrying its message (what a handler threw).
   */
  static from(reason: unknown): GridError {
    if (reason instanceof GridError) return reason;
    return new RemoteError(thrownMessage(reason), { cause: reason });
  }

  /** Rebuilds the error class for a code received from the wire. Unknown codes become `remote`. */
  static fromWire(code: string, message: string): GridError {
    const known = knownCodes.has(code) ? (code as ErrorCode) : ErrorCode.Remote;
    switch (known) {
      case ErrorCode.Remote:
        return new RemoteError(message);
      case ErrorCode.Disconnected:
        return new DisconnectedError(message);
      case ErrorCode.DeadlineExceeded:
        return new DeadlineExceededError(message);
      case ErrorCode.Aborted:
        return new AbortError(message);
      case ErrorCode.UnknownHandler:
        return new UnknownHandlerError(message);
      case ErrorCode.Protocol:
        return new ProtocolError(message);
      case ErrorCode.MessageTooLarge:
        return new MessageTooLargeError(message);
      case ErrorCode.InvalidPayload:
        return new InvalidPayloadError(message);
      case ErrorCode.Unauthenticated:
        return new UnauthenticatedError(message);
      case ErrorCode.ResourceExhausted:
        return new ResourceExhaustedError(message);
      case ErrorCode.Draining:
        return new DrainingError(message);
    }
  }
}

/**
 * The message of anything thrown. Never throws itself: `String()` does for an object without
 * a prototype, or whose toString (or an Error's message getter) throws, and `from` runs in
 * the catch path of a handler, where a second throw would escape.
 */
function thrownMessage(reason: unknown): string {
  try {
    return reason instanceof Error ? String(reason.message) : String(reason);
  } catch {
    try {
      return Object.prototype.toString.call(reason);
    } catch {
      return "unprintable thrown value";
    }
  }
}

/** What a remote handler threw, with its message. */
export class RemoteError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Remote, message, options);
  }
}

/** The connection was lost, or is not established, so the call could not complete. */
export class DisconnectedError extends GridError {
  constructor(message = "connection lost", options?: { cause?: unknown }) {
    super(ErrorCode.Disconnected, message, options);
  }
}

/** The call's deadline passed before it finished. */
export class DeadlineExceededError extends GridError {
  constructor(message = "deadline exceeded", options?: { cause?: unknown }) {
    super(ErrorCode.DeadlineExceeded, message, options);
  }
}

/** The call was cancelled (by the caller's AbortSignal, or by the remote side of a stream). */
export class AbortError extends GridError {
  constructor(message = "call cancelled", options?: { cause?: unknown }) {
    super(ErrorCode.Aborted, message, options);
  }
}

/** No handler is registered under the requested id (and subroute). */
export class UnknownHandlerError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.UnknownHandler, message, options);
  }
}

/** The peer broke the protocol (malformed frame, unexpected op, bad handshake). */
export class ProtocolError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Protocol, message, options);
  }
}

/** A message exceeds the configured maximum size. */
export class MessageTooLargeError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MessageTooLarge, message, options);
  }
}

/** A payload does not match its schema; the message names the path of the bad field. */
export class InvalidPayloadError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidPayload, message, options);
  }
}

/** The handshake was refused (bad token, unknown host, wrong target, clock skew). */
export class UnauthenticatedError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Unauthenticated, message, options);
  }
}

/**
 * The server refused a new call because the caller's link is at one of its limits
 * (`maxIncomingCalls`, `maxIncomingBytes`, `maxIncomingStreams`). The handler did not run: safe to retry later.
 * On an open stream: the stream's unread messages took the peer's `maxUnreadStreamBytes`
 * (either side), so the stream was ended on both sides.
 */
export class ResourceExhaustedError extends GridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.ResourceExhausted, message, options);
  }
}

/**
 * The call was not started because its server is draining (`Manager.drain`), or this node
 * is: nothing ran, so it is safe to retry on another server.
 */
export class DrainingError extends GridError {
  constructor(message = "draining; retry elsewhere", options?: { cause?: unknown }) {
    super(ErrorCode.Draining, message, options);
  }
}

/**
 * The public shapes of calls and handlers, shared by the connection (runtime core), the
 * Manager and the code that gridgen emits. Implementation-free on purpose: generated code
 * depends only on these.
 */

import type { Metadata } from "./protocol/metadata.js";

/** A handler's stable numeric id: a small positive integer (1..65535). */
export type HandlerID = number;

/** Options of one call. */
export interface CallOptions {
  /** Aborting rejects the call at once with `AbortError` and cancels it on the server too. */
  signal?: AbortSignal;
  /** Deadline relative to now; travels to the server. Default: the connection's (60 s). */
  timeoutMs?: number;
  /**
   * Sent with the call; the handler reads it as `ctx.metadata`. Keys: 1..255 chars of
   * `[0-9a-z._-]`; values: strings. At most `maxMetadataBytes` (default 8 KiB) in all, else
   * the call rejects with MessageTooLargeError. Absent or empty: nothing is sent.
   */
  metadata?: Readonly<Metadata>;
}

/** The caller's half of a stream's input. */
export interface StreamWriter {
  /**
   * Sends one message. Resolves when the message is queued within the server's credit;
   * so awaiting every send is what gives the caller backpressure.
   */
  send(msg: Uint8Array): Promise<void>;
  /** Ends the input stream (EOF travels in band, after the messages already sent). */
  close(): void;
}

/** A stream as the caller sees it. */
export interface Stream {
  /** The server's messages; ends when the server ends; throws the server's error. */
  responses: AsyncIterable<Uint8Array>;
  /** Present when the handler takes an input stream. */
  requests?: StreamWriter;
  /** Cancels the stream on both sides. Idempotent. */
  cancel(reason?: unknown): void;
}

/** Anything that can make calls: a Connection, or a subroute view of one. */
export interface Caller {
  request(handler: HandlerID, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array>;
  newStream(handler: HandlerID, payload?: Uint8Array, opts?: CallOptions): Promise<Stream>;
  /**
   * Names a service's handlers for errors, logs and interceptors (`Locker.lock (id 1)`);
   * generated clients call it from their constructor. Optional for custom Callers.
   */
  nameHandlers?(service: string, ids: Readonly<Record<string, number>>): void;
}

/** What a handler knows about the call it serves. */
export interface HandlerContext {
  /** Aborted on caller cancel, deadline or disconnect; `reason` is the matching GridError. */
  signal: AbortSignal;
  /** Name (address) of the calling server. */
  caller: string;
  /** Absolute deadline (ms since the epoch, as `Date.now()`), or undefined if none. */
  deadline: number | undefined;
  /** The subroute the call was addressed to, if any. */
  subroute: string | undefined;
  /** The caller's metadata (`CallOptions.metadata`); a frozen empty object when none was sent. */
  readonly metadata: Readonly<Metadata>;
}

/** Serves a single request: bytes in, bytes out (or throw). */
export type SingleHandler = (payload: Uint8Array, ctx: HandlerContext) => Uint8Array | Promise<Uint8Array>;

/**
 * Serves a stream: an async generator whose `yield` waits for the caller's credit.
 * `input` is present when the handler was registered with an `inCapacity`.
 */
export type StreamHandler = (
  payload: Uint8Array | undefined,
  input: AsyncIterable<Uint8Array> | undefined,
  ctx: HandlerContext,
) => AsyncIterable<Uint8Array>;

export interface SingleHandlerOptions {
  /** Serve this handler only under this subroute (see `Connection.subroute`). */
  subroute?: string | undefined;
  /** The handler's name in errors, logs and interceptors (`Locker.lock`); generated code sets it. */
  name?: string;
}

export interface StreamHandlerOptions {
  /**
   * Credits of the caller's input stream: how many messages the server buffers, 1..65536
   * (`MAX_STREAM_CAPACITY`). When set (> 0), the handler takes an input stream; omitted or 0,
   * it takes none. (Generated code passes `DEFAULT_IN_CAPACITY`, 128, for a schema stream with
   * `in` and no `inCapacity`.)
   */
  inCapacity?: number;
  /** Credits of the output stream: how many messages the caller buffers, 1..65536. Default 128 (`DEFAULT_OUT_CAPACITY`). */
  outCapacity?: number;
  /** Serve this handler only under this subroute. */
  subroute?: string | undefined;
  /** The handler's name in errors, logs and interceptors (`Locker.lock`); generated code sets it. */
  name?: string;
}

/** Anything that handlers can be registered on: the Manager, or a bare HandlerRegistry. */
export interface HandlerRegistrar {
  registerSingle(id: HandlerID, handler: SingleHandler, opts?: SingleHandlerOptions): void;
  registerStream(id: HandlerID, handler: StreamHandler, opts?: StreamHandlerOptions): void;
}

/** Where tsgrid writes what it has to say. Defaults to a console-backed logger. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

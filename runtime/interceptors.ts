/**
 * Interceptors: functions that wrap the call path, on the calling side (client) and the
 * serving side (server). The shape is connect-es's: an interceptor takes `next` and returns
 * the function that replaces it, one shape for single requests and streams:
 *
 * ```ts
 * const timing: ClientInterceptor = (next) => async (call) => {
 *   call.metadata["x-request-id"] ??= randomUUID();   // add metadata
 *   const started = performance.now();
 *   try {
 *     return await next(call);                          // a single's answer, or an open Stream
 *   } finally {
 *     log(call.handlerName ?? call.handler, performance.now() - started);
 *   }
 * };
 * ```
 *
 * Throwing (or rejecting) before `next` rejects the call: on the client the caller gets the
 * error and nothing is sent; on the server the caller gets it as the call's error (a thrown
 * GridError keeps its code; anything else travels as `remote`).
 *
 * Interceptors are configured on the Manager (`ManagerOptions.interceptors`, every
 * connection) and per connection (`connection.intercept(...)`), composed once when
 * configured (no per-call walk of an array): the Manager's run outermost, in the order given,
 * then the connection's. With none configured the call path is the plain one (zero cost).
 */
import type { GridError } from "./errors.js";
import type { Metadata } from "./protocol/metadata.js";
import type { HandlerContext, HandlerID, Stream } from "./types.js";

/** Events of a stream, for interceptors that time streams or count their messages. */
export interface StreamObserver {
  /**
   * A stream message went out from this side (`out`) or came in (`in`), with its payload
   * size. Called synchronously on the mux's path: keep it cheap, never throw.
   */
  onMessage?(direction: "in" | "out", bytes: number): void;
  /**
   * The stream ended, once: `error` undefined when it ended cleanly (the server's EOF),
   * else why it failed or was cancelled (its code is the outcome).
   */
  onEnd?(error: GridError | undefined): void;
}

/** What every intercepted call shows, on either side. */
export interface CallInfo {
  /** `client`: this side calls; `server`: this side serves. */
  readonly side: "client" | "server";
  /** False for a single request, true for a stream (the discriminant, as in connect-es). */
  readonly stream: boolean;
  /** The handler's id. */
  readonly handler: HandlerID;
  /** The handler's registered name (`Locker.lock`), if generated code (or the user) named it. */
  readonly handlerName: string | undefined;
  /** The server at the other end. */
  readonly peer: string;
  /** The subroute the call is addressed to, if any. */
  readonly subroute: string | undefined;
  /** Absolute deadline (ms since the epoch, as `Date.now()`), or undefined if none. */
  readonly deadline: number | undefined;
}

interface ClientCallBase extends CallInfo {
  readonly side: "client";
  /**
   * The metadata that will be sent: a copy of the caller's `CallOptions.metadata` (or an
   * empty object), so an interceptor may add or change keys before `next`.
   */
  readonly metadata: Metadata;
  /** The caller's AbortSignal, if any. */
  readonly signal: AbortSignal | undefined;
  /** The caller's relative timeout, as given (undefined: the connection's default for singles, none for streams). */
  readonly timeoutMs: number | undefined;
}

/** A single request, as a client interceptor sees it. `next` resolves with the answer. */
export interface ClientSingleCall extends ClientCallBase {
  readonly stream: false;
  readonly payload: Uint8Array;
}

/** A stream, as a client interceptor sees it. `next` resolves with the open Stream. */
export interface ClientStreamCall extends ClientCallBase {
  readonly stream: true;
  readonly payload: Uint8Array | undefined;
  /** Registers `observer` for this stream's messages and end (before `next`). */
  observe(observer: StreamObserver): void;
}

export type ClientCall = ClientSingleCall | ClientStreamCall;

/** The rest of the client path: a single's answer bytes, or the open `Stream`. */
export type ClientNext = (call: ClientCall) => Promise<Uint8Array | Stream>;
export type ClientInterceptor = (next: ClientNext) => ClientNext;

interface ServerCallBase extends Omit<CallInfo, keyof HandlerContext>, HandlerContext {
  readonly side: "server";
}

/** A single request, as a server interceptor sees it. `next` runs the handler. */
export interface ServerSingleCall extends ServerCallBase {
  readonly stream: false;
  readonly payload: Uint8Array;
}

/**
 * A stream, as a server interceptor sees it. `next` starts the handler and resolves with its
 * output iterable; the stream's end is reported to observers.
 */
export interface ServerStreamCall extends ServerCallBase {
  readonly stream: true;
  readonly payload: Uint8Array | undefined;
  /** Registers `observer` for this stream's messages and end. */
  observe(observer: StreamObserver): void;
}

export type ServerCall = ServerSingleCall | ServerStreamCall;

/** The rest of the server path: the handler's answer, or its output messages (a stream). */
export type ServerNext = (call: ServerCall) => Promise<Uint8Array | AsyncIterable<Uint8Array>>;
export type ServerInterceptor = (next: ServerNext) => ServerNext;

/** Interceptors of both sides, as configured on a Manager or a connection. */
export interface Interceptors {
  /** Wrap the calls this side makes; the first is the outermost. */
  client?: readonly ClientInterceptor[];
  /** Wrap the calls this side serves; the first is the outermost. */
  server?: readonly ServerInterceptor[];
}

/**
 * Composes interceptors around `terminal` once: the first interceptor is the outermost.
 * Returns undefined when there are none (the caller then keeps its plain path).
 */
export function composeInterceptors<N>(
  interceptors: readonly ((next: N) => N)[] | undefined,
  terminal: N,
): N | undefined {
  if (interceptors === undefined || interceptors.length === 0) return undefined;
  let next = terminal;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    const interceptor = interceptors[i];
    if (typeof interceptor !== "function") throw new TypeError(`interceptor ${i} is not a function`);
    next = interceptor(next);
    if (typeof next !== "function") throw new TypeError(`interceptor ${i} did not return a function`);
  }
  return next;
}

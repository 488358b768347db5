/**
 * The mux: every call in flight on one connection, in two tables.
 *
 * - `outgoing`: calls this side started. Ids are allocated here. Frames from the server side
 *   of a call (Response, AckMux, MuxConnectError, MuxServerMsg, UnblockClientMux,
 *   DisconnectServerMux, stream Pong) are looked up here.
 * - `incoming`: calls the peer started, under the peer's ids. Frames from the caller side
 *   (Request, ConnectMux, MuxClientMsg, UnblockServerMux, DisconnectClientMux, stream Ping)
 *   are looked up here.
 *
 * The two id spaces are independent: the same number can name one call in each table. A
 * frame for an id that is not (or no longer) in its table is a normal race (an answer after
 * a cancel or a deadline) and is dropped; it is never answered with a frame that would be
 * looked up in the wrong table.
 */
import {
  AbortError,
  DeadlineExceededError,
  DisconnectedError,
  DrainingError,
  GridError,
  MessageTooLargeError,
  ProtocolError,
  ResourceExhaustedError,
  UnknownHandlerError,
} from "../errors.js";
import type { CallTrace, ConnectionOptions } from "../connection/options.js";
import { HandlerFailures } from "../handlers/handler-failure.js";
import type { HandlerRegistry } from "../handlers/handler-registry.js";
import type { HandlerNames } from "../handlers/handler-names.js";
import { composeInterceptors } from "../interceptors.js";
import type {
  ClientCall,
  ClientInterceptor,
  ClientNext,
  ClientStreamCall,
  Interceptors,
  ServerInterceptor,
  ServerNext,
  StreamObserver,
} from "../interceptors.js";
import { EMPTY_METADATA, encodeWithMetadata, hasMetadata, splitMetadata } from "../protocol/metadata.js";
import type { Metadata } from "../protocol/metadata.js";
import { decodeErrorPayload, encodeErrorPayload } from "../protocol/error-payload.js";
import { Flag, MAX_HANDLER_ID, MAX_U32, Op, opName } from "../protocol/frame.js";
import type { Frame } from "../protocol/frame.js";
import type { MessageTransport } from "../transport/message-transport.js";
import type { CallOptions, Stream } from "../types.js";
import { AbortGroups } from "./abort-groups.js";
import { CallTable } from "./call-table.js";
import { DeadlineWheel } from "./deadline-wheel.js";
import { FrameWriter } from "./frame-writer.js";
import { IncomingRequest } from "./incoming-calls.js";
import { IncomingStream } from "./incoming-stream.js";
import { CallKind, OutgoingRequest } from "./outgoing-calls.js";
import { OutgoingStream } from "./outgoing-stream.js";
import { UnreadBudget } from "./stream-flow.js";

export type OutgoingCall = OutgoingRequest | OutgoingStream;
export type IncomingCall = IncomingRequest | IncomingStream;

const EMPTY = new Uint8Array(0);

// Captures a new promise's resolvers without a closure per call (Node 20 has no
// Promise.withResolvers): the executor is one shared function.
let capturedResolve: (value: Uint8Array) => void = () => {};
let capturedReject: (reason: GridError) => void = () => {};
function captureResolvers(resolve: (value: Uint8Array) => void, reject: (reason: GridError) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A value's kind for an argument error (never its content: it may be large or secret). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

/**
 * A call as client interceptors see it. It is also the CallOptions the plain path gets at the
 * end of the chain (signal, timeoutMs, metadata), so the terminal allocates nothing more.
 */
class ClientCallImpl {
  readonly side = "client";
  readonly metadata: Metadata;
  readonly deadline: number | undefined;
  observers: StreamObserver[] | undefined;

  constructor(
    readonly stream: boolean,
    private readonly names: HandlerNames,
    readonly handler: number,
    readonly payload: Uint8Array | undefined,
    readonly peer: string,
    readonly subroute: string | undefined,
    readonly subrouteBytes: Uint8Array | undefined,
    readonly signal: AbortSignal | undefined,
    readonly timeoutMs: number | undefined,
    metadata: Readonly<Metadata> | undefined,
    defaultTimeoutMs: number | undefined,
  ) {
    this.metadata = { ...metadata };
    const timeout = timeoutMs ?? defaultTimeoutMs;
    this.deadline = timeout !== undefined && timeout > 0 ? Date.now() + timeout : undefined;
  }

  get handlerName(): string | undefined {
    return this.names.get(this.handler);
  }

  observe(observer: StreamObserver): void {
    if (!this.stream) throw new TypeError("observe() is for streams");
    (this.observers ??= []).push(observer);
  }
}

export interface MuxInit {
  local: string;
  remote: string;
  registry: HandlerRegistry;
  options: ConnectionOptions;
}

export class Mux {
  readonly outgoing = new CallTable<OutgoingCall>();
  readonly incoming = new CallTable<IncomingCall>();
  /** Open streams of both tables, visited by the stream liveness timer. */
  readonly streams = new Set<OutgoingStream | IncomingStream>();
  readonly writer: FrameWriter;
  readonly wheel: DeadlineWheel;
  readonly aborts = new AbortGroups();
  readonly options: ConnectionOptions;
  readonly remote: string;
  readonly local: string;
  readonly registry: HandlerRegistry;
  /** Turns what handlers throw into the caller's error, and logs it here. */
  readonly failures: HandlerFailures;
  connected = false;
  callsOut = 0;
  callsIn = 0;
  /** Set by the Connection: the error of a call made while not connected (says why). */
  notConnected: () => DisconnectedError = () => new DisconnectedError(`not connected to ${this.remote}`);
  /** Set by the Connection: something broke the link beyond repair (drops it). */
  onFatal: (err: unknown) => void = () => {};
  /** Set by the Connection: the peer read nothing of our backlog for `writeTimeoutMs` (drops it). */
  onWriteTimeout: (backlogBytes: number, stalledMs: number) => void = () => {};
  /** Streams of the incoming table (the rest of it are single requests). */
  private incomingStreams = 0;
  /** Request payload bytes held by the single requests of the incoming table. */
  private incomingBytes = 0;
  /** Stream-level protocol faults of the current link. */
  private streamFaults = 0;
  /** Bytes of this peer's stream messages waiting unread in our streams' queues. */
  readonly unread: UnreadBudget;
  /** The error payloads of refusals at the caps, by option name, encoded on first use. */
  private readonly capRefusals = new Map<string, Uint8Array>();
  /** The composed client interceptors; undefined when none (the plain path). */
  clientChain: ClientNext | undefined;
  /** The composed server interceptors; undefined when none (the plain path). */
  serverChain: ServerNext | undefined;
  /** Why new calls on this link are refused (this node or the peer is draining), else undefined. */
  drainMessage: string | undefined;
  /** The peer acknowledged our GoAway: a call it starts now broke the drain and is refused. */
  refuseIncoming = false;
  private clientInterceptors: ClientInterceptor[] = [];
  private serverInterceptors: ServerInterceptor[] = [];
  private nextId = 1;
  /** Changes on every attach and detach: a call knows whether its link is still the current one. */
  private link = 0;
  /** Why the link of an earlier `link` value ended (the last detach). */
  private detachReason: DisconnectedError | undefined;
  private streamTimer: NodeJS.Timeout | undefined;
  private lastStreamCheck = 0;

  constructor(init: MuxInit) {
    this.options = init.options;
    this.unread = new UnreadBudget(init.options.maxUnreadStreamBytes);
    this.remote = init.remote;
    this.local = init.local;
    this.registry = init.registry;
    this.failures = new HandlerFailures(init.options.logger, init.local, init.remote, init.registry.names);
    this.writer = new FrameWriter({
      maxQueuedBytes: init.options.maxQueuedBytes,
      maxMergeBytes: Math.min(init.options.maxMergeBytes, init.options.maxMessageBytes),
      maxMergeFrames: init.options.maxMergeFrames,
      checksum: init.options.checksum,
      roomPollMs: init.options.roomPollMs,
      onError: (err) => this.onFatal(err),
      writeTimeoutMs: init.options.writeTimeoutMs,
      onWriteTimeout: (backlog, stalledMs) => this.onWriteTimeout(backlog, stalledMs),
    });
    this.wheel = new DeadlineWheel(init.options.deadlineResolutionMs);
    if (init.options.interceptors !== undefined) this.addInterceptors(init.options.interceptors);
  }

  get names(): HandlerNames {
    return this.registry.names;
  }

  /**
   * Adds interceptors inside those already configured, and composes the chains once, here:
   * calls never walk an array.
   */
  addInterceptors(interceptors: Interceptors): void {
    const client = [...this.clientInterceptors, ...(interceptors.client ?? [])];
    const server = [...this.serverInterceptors, ...(interceptors.server ?? [])];
    const clientChain = composeInterceptors<ClientNext>(client, this.clientTerminal);
    const serverChain = composeInterceptors<ServerNext>(server, serverTerminal);
    this.clientInterceptors = client;
    this.serverInterceptors = server;
    this.clientChain = clientChain;
    this.serverChain = serverChain;
  }

  /** The end of the client chain: the plain call path, with the call as its options. */
  private readonly clientTerminal: ClientNext = (call: ClientCall): Promise<Uint8Array | Stream> => {
    const c = call as unknown as ClientCallImpl;
    if (!(c instanceof ClientCallImpl)) return Promise.reject(new TypeError("an interceptor passed next() a call it did not get"));
    return c.stream
      ? this.startStream(c.handler, c.payload, c, c.subroute, c.subrouteBytes, c.observers)
      : this.startRequest(c.handler, c.payload!, c, c.subroute, c.subrouteBytes);
  };

  /** A call through the client interceptors. */
  private intercept(
    stream: boolean,
    handler: number,
    payload: Uint8Array | undefined,
    opts: CallOptions | undefined,
    subroute: string | undefined,
    subrouteBytes: Uint8Array | undefined,
  ): Promise<Uint8Array | Stream> {
    const metadata = opts?.metadata;
    if (metadata !== undefined && (typeof metadata !== "object" || metadata === null)) {
      return Promise.reject(new TypeError(`metadata must be an object of string values, got ${describe(metadata)}`));
    }
    const call = new ClientCallImpl(
      stream, this.names, handler, payload, this.remote, subroute, subrouteBytes, opts?.signal, opts?.timeoutMs, metadata,
      stream ? undefined : this.options.defaultTimeoutMs,
    );
    try {
      return this.clientChain!(call as unknown as ClientCall);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get inFlight(): number {
    return this.outgoing.size + this.incoming.size;
  }

  /** Open streams whose sending side waits for the peer's credits (a walk: for stats only). */
  get awaitingCredit(): number {
    let n = 0;
    for (const stream of this.streams) if (stream.awaitingCredit) n++;
    return n;
  }

  attach(transport: MessageTransport): void {
    this.writer.attach(transport);
    this.connected = true;
    this.link++;
    this.streamFaults = 0;
  }

  /** Fails every call of both tables with `reason` and forgets them. */
  detach(reason: DisconnectedError): void {
    this.connected = false;
    this.link++;
    this.detachReason = reason;
    const outgoing = this.outgoing.values();
    const incoming = this.incoming.values();
    this.outgoing.clear();
    this.incoming.clear();
    this.incomingStreams = 0;
    this.incomingBytes = 0;
    this.streams.clear();
    this.stopStreamTimer();
    this.wheel.clear();
    this.writer.detach();
    for (const call of outgoing) {
      if (call.kind === CallKind.Request) this.settleOutgoing(call, undefined, reason);
      else call.fail(reason, true, false);
    }
    for (const call of incoming) {
      if (call.kind === CallKind.Request) {
        call.done = true;
        call.abort(reason);
        this.traceIncoming(call, 0, reason);
      } else call.stop(reason, false);
    }
  }

  /**
   * Checks a new call before anything is allocated: the wire deadline (0 = none) when it may
   * go, else why not (bad arguments, oversize payload, not connected, already aborted).
   * Programming errors (bad handler id, payload, signal or timeout) are TypeError/RangeError,
   * returned so that the caller rejects: an async API never throws synchronously.
   */
  private admit(
    handler: number,
    payload: Uint8Array | undefined,
    payloadRequired: boolean,
    opts: CallOptions | undefined,
    timeoutMs: number | undefined,
  ): number | Error {
    if (!Number.isInteger(handler) || handler < 1 || handler > MAX_HANDLER_ID) {
      return new RangeError(`handler id must be an integer in 1..${MAX_HANDLER_ID}, got ${handler}`);
    }
    if (payload === undefined) {
      if (payloadRequired) return new TypeError("payload must be a Uint8Array, got undefined");
    } else {
      if (!(payload instanceof Uint8Array)) return new TypeError(`payload must be a Uint8Array, got ${describe(payload)}`);
      const max = this.options.maxMessageBytes;
      if (payload.byteLength > max) {
        return new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds maxMessageBytes ${max}`);
      }
    }
    const signal = opts?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
    }
    if (this.drainMessage !== undefined) return new DrainingError(this.drainMessage);
    if (!this.connected) return this.notConnected();
    if (signal?.aborted) return new AbortError("call cancelled by the caller", { cause: signal.reason });
    if (timeoutMs === undefined) return 0;
    if (!(timeoutMs > 0)) return new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    return Math.min(Math.ceil(timeoutMs), MAX_U32);
  }

  allocId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === MAX_U32 ? 1 : id + 1;
      if (!this.outgoing.has(id)) return id;
    }
  }

  // ---- single requests, caller side ------------------------------------------------------

  request(
    handler: number,
    payload: Uint8Array,
    opts: CallOptions | undefined,
    subroute: string | undefined,
    subrouteBytes: Uint8Array | undefined,
  ): Promise<Uint8Array> {
    if (this.clientChain !== undefined) {
      return this.intercept(false, handler, payload, opts, subroute, subrouteBytes) as Promise<Uint8Array>;
    }
    return this.startRequest(handler, payload, opts, subroute, subrouteBytes);
  }

  /** The payload area of a call's first frame: the payload, or metadata then payload. */
  private body(payload: Uint8Array | undefined, metadata: Readonly<Metadata>): Uint8Array | undefined | Error {
    if (!hasMetadata(metadata)) return payload;
    return encodeWithMetadata(metadata, payload, this.options.maxMetadataBytes);
  }

  private startRequest(
    handler: number,
    payload: Uint8Array,
    opts: CallOptions | undefined,
    subroute: string | undefined,
    subrouteBytes: Uint8Array | undefined,
  ): Promise<Uint8Array> {
    const deadlineMs = this.admit(handler, payload, true, opts, opts?.timeoutMs ?? this.options.defaultTimeoutMs);
    if (typeof deadlineMs !== "number") return Promise.reject(deadlineMs);
    let body: Uint8Array | undefined | Error = payload;
    let flags = 0;
    const metadata = opts?.metadata;
    if (metadata !== undefined) {
      body = this.body(payload, metadata);
      if (body instanceof Error) return Promise.reject(body);
      if (body !== payload) flags = Flag.HasMetadata;
    }
    const signal = opts?.signal;
    const id = this.allocId();
    const call = new OutgoingRequest(this, id, handler, subroute);
    const promise = new Promise<Uint8Array>(captureResolvers);
    call.resolve = capturedResolve;
    call.reject = capturedReject;
    this.outgoing.set(id, call);
    this.callsOut++;
    const now = performance.now();
    if (this.options.trace !== undefined) call.startedAt = now;
    call.deadlineAt = now + deadlineMs;
    this.wheel.add(call);
    if (signal !== undefined) {
      call.signal = signal;
      this.aborts.add(signal, call);
    }
    call.bytesOut = payload.byteLength;
    if (this.writer.hasRoom()) {
      call.sent = true;
      this.writer.writeFields(Op.Request, flags, handler, id, 0, deadlineMs, body, subrouteBytes);
    } else {
      // Only a call that waits for room keeps its frame as an object.
      call.pendingFrame = { op: Op.Request, flags, handler, muxId: id, seq: 0, deadlineMs, subroute, payload: body };
      call.pendingSubroute = subrouteBytes;
      this.writer.waitForRoom(call);
    }
    return promise;
  }

  /** A request that waited for room in the outgoing queue may go now. */
  sendPendingRequest(call: OutgoingRequest, frame: Frame, subrouteBytes: Uint8Array | undefined): void {
    if (this.outgoing.get(call.muxId) !== call) return;
    call.sent = true;
    call.pendingSubroute = undefined;
    this.writer.write(frame, subrouteBytes);
  }

  /** Ends an outgoing request early (caller abort, deadline). */
  cancelOutgoing(call: OutgoingRequest, err: GridError): void {
    if (this.outgoing.get(call.muxId) !== call) return;
    this.outgoing.delete(call.muxId);
    if (call.waitingForRoom) {
      call.waitingForRoom = false;
      call.pendingFrame = undefined;
    } else if (call.sent && err instanceof AbortError) {
      // The server has its own copy of the deadline; only a cancel has to travel.
      this.writeControl(Op.DisconnectClientMux, call.muxId, 0, undefined);
    }
    this.settleOutgoing(call, undefined, err);
  }

  private settleOutgoing(call: OutgoingRequest, value: Uint8Array | undefined, err: GridError | undefined): void {
    this.wheel.remove(call);
    if (call.signal !== undefined) {
      this.aborts.remove(call.signal, call);
      call.signal = undefined;
    }
    call.pendingFrame = undefined;
    if (this.options.trace !== undefined) {
      this.trace({
        handler: call.handler,
        subroute: call.subroute,
        direction: "out",
        kind: "single",
        durationMs: performance.now() - call.startedAt,
        bytesIn: value?.byteLength ?? 0,
        bytesOut: call.bytesOut,
        error: err,
      });
    }
    if (err !== undefined) call.reject(err);
    else call.resolve(value!);
  }

  private onResponse(frame: Frame): void {
    const call = this.outgoing.get(frame.muxId);
    if (call === undefined || call.kind !== CallKind.Request) return; // late answer: dropped
    // Decode first: a malformed error payload detaches the connection, which fails this call too.
    const err = (frame.flags & Flag.PayloadIsError) !== 0 ? decodeErrorPayload(frame.payload) : undefined;
    this.outgoing.delete(frame.muxId);
    this.settleOutgoing(call, err === undefined ? (frame.payload ?? EMPTY) : undefined, err);
  }

  // ---- single requests, server side ------------------------------------------------------

  private onRequest(frame: Frame): void {
    const id = frame.muxId;
    if (this.incoming.has(id)) throw new ProtocolError(`Request reuses mux id ${id} of a call still in flight`);
    const handlerId = frame.handler;
    let payload = frame.payload ?? EMPTY;
    let metadata = EMPTY_METADATA;
    if ((frame.flags & Flag.HasMetadata) !== 0) {
      const split = this.splitMetadata(frame, Op.Response);
      if (split === undefined) return;
      metadata = split.metadata;
      payload = split.payload ?? EMPTY;
    }
    const handler = this.registry.single(handlerId, frame.subroute);
    // Only calls still being served count (a synchronous answer never enters the table).
    if (this.incoming.size - this.incomingStreams >= this.options.maxIncomingCalls) {
      this.refuseAtCap(Op.Response, id, "maxIncomingCalls", `is serving ${this.options.maxIncomingCalls} calls`);
      return;
    }
    // Payloads held by calls in flight, bounded in bytes too (one call alone always fits).
    const size = frame.payload?.byteLength ?? 0;
    if (this.incomingBytes > 0 && this.incomingBytes + size > this.options.maxIncomingBytes) {
      this.refuseAtCap(Op.Response, id, "maxIncomingBytes", `holds ${this.options.maxIncomingBytes} bytes of requests`);
      return;
    }
    if (handler === undefined) {
      const where = frame.subroute === undefined ? "" : ` under subroute "${frame.subroute}"`;
      this.writeControl(Op.Response, id, Flag.PayloadIsError, encodeErrorPayload(
        new UnknownHandlerError(`no single handler ${this.names.label(handlerId)}${where} on ${this.local}`),
      ));
      return;
    }
    if (this.refuseIncoming) {
      this.writeControl(Op.Response, id, Flag.PayloadIsError, encodeErrorPayload(this.refusal()));
      return;
    }
    const call = new IncomingRequest(this, id, handlerId, this.remote, frame.subroute);
    call.metadata = metadata;
    this.callsIn++;
    const deadlineMs = frame.deadlineMs;
    if (deadlineMs > 0 || this.options.trace !== undefined) {
      const now = performance.now();
      call.startedAt = now;
      if (deadlineMs > 0) call.deadlineAt = now + deadlineMs;
    }
    call.bytesIn = payload.byteLength;
    const link = this.link;
    let result: Uint8Array | Promise<Uint8Array>;
    try {
      if (this.serverChain === undefined) result = handler(payload, call);
      else {
        call.payload = payload;
        call.fn = handler;
        result = this.serverChain(call) as Promise<Uint8Array>;
      }
    } catch (err) {
      if (!this.linkGone(call, link)) this.answerIncoming(call, undefined, err, true);
      return;
    }
    // The handler dropped the connection while it ran (it was not in the table yet, so the
    // detach could not fail it): end it like every other call of that link.
    if (this.linkGone(call, link)) return;
    // A handler that answers synchronously is answered now: nothing can have cancelled it,
    // so it never enters the table or the wheel, and costs no promise.
    if (result instanceof Uint8Array) {
      this.answerIncoming(call, result, undefined, false);
      return;
    }
    // From here on it can be cancelled, expire, or be cut off by a disconnect.
    this.incoming.set(id, call);
    this.incomingBytes += call.bytesIn;
    if (deadlineMs > 0) this.wheel.add(call);
    void this.awaitSingle(call, result);
  }

  /**
   * The metadata and payload of a call's first frame, or undefined when the metadata exceeds
   * this side's bound (the call is answered with MessageTooLargeError under `answerOp`).
   * A malformed section throws ProtocolError (the connection is dropped).
   */
  private splitMetadata(frame: Frame, answerOp: Op): { metadata: Readonly<Metadata>; payload: Uint8Array | undefined } | undefined {
    try {
      const split = splitMetadata(frame.payload, this.options.maxMetadataBytes);
      const size = split.payload?.byteLength ?? 0;
      if (size > this.options.maxMessageBytes) {
        throw new ProtocolError(`${opName(frame.op)} payload of ${size} bytes exceeds the limit of ${this.options.maxMessageBytes}`);
      }
      return split;
    } catch (err) {
      if (!(err instanceof MessageTooLargeError)) throw err;
      this.writeControl(answerOp, frame.muxId, Flag.PayloadIsError, encodeErrorPayload(err));
      return undefined;
    }
  }

  /**
   * Answers a call refused at a per-peer cap with ResourceExhaustedError. The payload is
   * encoded once per Mux and cap: a flood of refusals costs no Error (and stack trace) each.
   */
  private refuseAtCap(answerOp: Op, id: number, option: string, state: string): void {
    let payload = this.capRefusals.get(option);
    if (payload === undefined) {
      payload = encodeErrorPayload(new ResourceExhaustedError(`${this.local} ${state} from ${this.remote} already (${option})`));
      this.capRefusals.set(option, payload);
    }
    this.writeControl(answerOp, id, Flag.PayloadIsError, payload);
  }

  /** The error of a call the peer started after acknowledging our GoAway. */
  private refusal(): DrainingError {
    return new DrainingError(`${this.local} is draining and ${this.remote} acknowledged it; retry elsewhere`);
  }

  /** Whether the link a call arrived on is gone; if so the call is ended as by the detach. */
  private linkGone(call: IncomingRequest, link: number): boolean {
    if (this.link === link) return false;
    call.done = true;
    const reason = this.detachReason ?? new DisconnectedError(`connection to ${this.remote} lost`);
    call.abort(reason);
    this.traceIncoming(call, 0, reason);
    return true;
  }

  private async awaitSingle(call: IncomingRequest, pending: Promise<Uint8Array>): Promise<void> {
    let result: Uint8Array;
    try {
      result = await pending;
    } catch (err) {
      this.answerIncoming(call, undefined, err, true);
      return;
    }
    this.answerIncoming(call, result, undefined, false);
  }

  /** `failed`: the handler threw (or rejected with) `thrown`, which may be any value, even undefined. */
  private answerIncoming(call: IncomingRequest, result: Uint8Array | undefined, thrown: unknown, failed: boolean): void {
    if (call.done) return; // cancelled, expired or disconnected: nobody waits for it
    this.endIncoming(call);
    this.wheel.remove(call);
    let err: GridError | undefined;
    if (failed) err = this.failures.thrown(call.handler, "single", thrown);
    else if (!(result instanceof Uint8Array)) {
      err = this.failures.misused(call.handler, "single", `returned ${describe(result)}, not a Uint8Array`);
    } else if (result.byteLength > this.options.maxMessageBytes) {
      err = new MessageTooLargeError(
        `response of ${result.byteLength} bytes exceeds maxMessageBytes ${this.options.maxMessageBytes}`,
      );
    }
    const payload = err === undefined ? result! : encodeErrorPayload(err);
    this.writer.writeFields(Op.Response, err === undefined ? 0 : Flag.PayloadIsError, call.handler, call.muxId, 0, 0, payload);
    this.traceIncoming(call, payload.byteLength, err);
  }

  /** Marks an incoming single done and takes it, and the payload bytes it held, out of the table. */
  private endIncoming(call: IncomingRequest): void {
    call.done = true;
    if (this.incoming.get(call.muxId) === call) {
      this.incoming.delete(call.muxId);
      this.incomingBytes -= call.bytesIn;
    }
  }

  /** An incoming request's deadline passed: abort its handler; the caller gave up already. */
  expireIncoming(call: IncomingRequest): void {
    if (call.done) return;
    this.endIncoming(call);
    const err = new DeadlineExceededError(`request to ${this.names.label(call.handler)} exceeded its deadline`);
    call.abort(err);
    this.traceIncoming(call, 0, err);
  }

  private onClientCancel(frame: Frame): void {
    const call = this.incoming.get(frame.muxId);
    if (call === undefined) return;
    const err =
      (frame.flags & Flag.PayloadIsError) !== 0
        ? decodeErrorPayload(frame.payload)
        : new AbortError("call cancelled by the caller");
    if (call.kind === CallKind.Stream) {
      call.stop(err, false);
      return;
    }
    this.endIncoming(call);
    this.wheel.remove(call);
    call.abort(err);
    this.traceIncoming(call, 0, err);
  }

  private traceIncoming(call: IncomingRequest, bytesOut: number, err: GridError | undefined): void {
    if (this.options.trace === undefined) return;
    this.trace({
      handler: call.handler,
      subroute: call.subroute,
      direction: "in",
      kind: "single",
      durationMs: performance.now() - call.startedAt,
      bytesIn: call.bytesIn,
      bytesOut,
      error: err,
    });
  }

  // ---- streams ------------------------------------------------------------------------------

  newStream(
    handler: number,
    payload: Uint8Array | undefined,
    opts: CallOptions | undefined,
    subroute: string | undefined,
    subrouteBytes: Uint8Array | undefined,
  ): Promise<Stream> {
    if (this.clientChain !== undefined) {
      return this.intercept(true, handler, payload, opts, subroute, subrouteBytes) as Promise<Stream>;
    }
    return this.startStream(handler, payload, opts, subroute, subrouteBytes, undefined);
  }

  private startStream(
    handler: number,
    payload: Uint8Array | undefined,
    opts: CallOptions | undefined,
    subroute: string | undefined,
    subrouteBytes: Uint8Array | undefined,
    observers: StreamObserver[] | undefined,
  ): Promise<Stream> {
    // Streams have no deadline unless the caller gives one: their liveness is the stream ping.
    const deadlineMs = this.admit(handler, payload, false, opts, opts?.timeoutMs);
    if (typeof deadlineMs !== "number") return Promise.reject(deadlineMs);
    let body: Uint8Array | undefined | Error = payload;
    const metadata = opts?.metadata;
    if (metadata !== undefined) {
      body = this.body(payload, metadata);
      if (body instanceof Error) return Promise.reject(body);
    }
    const stream = new OutgoingStream(this, this.allocId(), handler, subroute, opts?.signal);
    stream.observers = observers;
    this.outgoing.set(stream.muxId, stream);
    this.streams.add(stream);
    this.startStreamTimer();
    this.callsOut++;
    return stream.open(body, deadlineMs, subrouteBytes, body === payload ? 0 : Flag.HasMetadata, payload?.byteLength ?? 0);
  }

  private onConnectMux(frame: Frame): void {
    const id = frame.muxId;
    if (this.incoming.has(id)) throw new ProtocolError(`ConnectMux reuses mux id ${id} of a call still in flight`);
    let payload = frame.payload;
    let metadata = EMPTY_METADATA;
    if ((frame.flags & Flag.HasMetadata) !== 0) {
      const split = this.splitMetadata(frame, Op.MuxConnectError);
      if (split === undefined) return;
      metadata = split.metadata;
      payload = split.payload;
    }
    const entry = this.registry.stream(frame.handler, frame.subroute);
    if (entry === undefined) {
      const where = frame.subroute === undefined ? "" : ` under subroute "${frame.subroute}"`;
      this.writeControl(Op.MuxConnectError, id, Flag.PayloadIsError, encodeErrorPayload(
        new UnknownHandlerError(`no stream handler ${this.names.label(frame.handler)}${where} on ${this.local}`),
      ));
      return;
    }
    if (this.incomingStreams >= this.options.maxIncomingStreams) {
      this.refuseAtCap(Op.MuxConnectError, id, "maxIncomingStreams", `has ${this.options.maxIncomingStreams} streams open`);
      return;
    }
    if (this.refuseIncoming) {
      this.writeControl(Op.MuxConnectError, id, Flag.PayloadIsError, encodeErrorPayload(this.refusal()));
      return;
    }
    const deadlineMs = frame.deadlineMs;
    const stream = new IncomingStream(this, id, frame.handler, entry, this.remote, frame.subroute);
    stream.metadata = metadata;
    this.incoming.set(id, stream);
    this.incomingStreams++;
    this.streams.add(stream);
    this.startStreamTimer();
    this.callsIn++;
    if (deadlineMs > 0) {
      stream.deadlineAt = performance.now() + deadlineMs;
      this.wheel.add(stream);
    }
    stream.start(payload);
  }

  /** Removes a finished stream from its table (idempotent). */
  forgetStream(stream: OutgoingStream | IncomingStream): void {
    if (stream instanceof OutgoingStream) {
      if (this.outgoing.get(stream.muxId) === stream) this.outgoing.delete(stream.muxId);
    } else if (this.incoming.get(stream.muxId) === stream) {
      this.incoming.delete(stream.muxId);
      this.incomingStreams--;
    }
    this.wheel.remove(stream);
    this.streams.delete(stream);
    if (this.streams.size === 0) this.stopStreamTimer();
  }

  private startStreamTimer(): void {
    if (this.streamTimer !== undefined) return;
    this.lastStreamCheck = performance.now();
    this.streamTimer = setInterval(this.checkStreams, this.options.streamPingIntervalMs);
    this.streamTimer.unref();
  }

  private stopStreamTimer(): void {
    if (this.streamTimer === undefined) return;
    clearInterval(this.streamTimer);
    this.streamTimer = undefined;
  }

  /** Stream liveness: callers ping their streams; either side fails a stream gone silent. */
  private readonly checkStreams = (): void => {
    const now = performance.now();
    const limit = this.options.streamTimeoutMs;
    const interval = this.options.streamPingIntervalMs;
    // A stalled event loop has not read what arrived meanwhile: the stall does not count as
    // the peer's silence, and verdicts wait for the next round (after the reads).
    const late = now - this.lastStreamCheck - interval;
    const stalled = late > interval / 2;
    this.lastStreamCheck = now;
    for (const stream of [...this.streams]) {
      if (stalled) stream.lastSeen += late;
      if (stream.heard) {
        stream.heard = false;
        stream.lastSeen = now;
      } else if (!stalled && now - stream.lastSeen > limit) {
        stream.peerSilent(limit);
        continue;
      }
      if (stream instanceof OutgoingStream) {
        if (stream.pingable) this.writeControl(Op.Ping, stream.muxId, 0, undefined);
        stream.checkStuck();
      }
    }
  };

  // ---- dispatch -------------------------------------------------------------------------------

  /** Routes one received frame (not connection-level ones). Throws ProtocolError on abuse. */
  dispatch(frame: Frame): void {
    switch (frame.op) {
      case Op.Request:
        this.onRequest(frame);
        return;
      case Op.Response:
        this.onResponse(frame);
        return;
      case Op.DisconnectClientMux:
        this.onClientCancel(frame);
        return;
      case Op.ConnectMux:
        this.onConnectMux(frame);
        return;
      case Op.Ping: {
        // Stream ping, from the caller of one of our incoming streams.
        const stream = this.incoming.get(frame.muxId);
        if (stream === undefined || stream.kind !== CallKind.Stream) {
          // Gone here: tell the caller, in ITS table (outgoing), so it fails at once.
          this.writeControl(Op.DisconnectServerMux, frame.muxId, Flag.PayloadIsError, encodeErrorPayload(
            new AbortError("stream is not open on the server"),
          ));
          return;
        }
        stream.heard = true;
        this.writeControl(Op.Pong, frame.muxId, 0, undefined);
        return;
      }
      case Op.MuxClientMsg:
      case Op.UnblockServerMux: {
        const stream = this.incoming.get(frame.muxId);
        if (stream === undefined || stream.kind !== CallKind.Stream) return;
        stream.heard = true;
        if (frame.op === Op.MuxClientMsg) stream.onClientMessage(frame);
        else stream.onCredits(frame.seq);
        return;
      }
      case Op.AckMux:
      case Op.MuxConnectError:
      case Op.MuxServerMsg:
      case Op.UnblockClientMux:
      case Op.DisconnectServerMux:
      case Op.Pong: {
        const stream = this.outgoing.get(frame.muxId);
        if (stream === undefined || stream.kind !== CallKind.Stream) return;
        stream.heard = true;
        switch (frame.op) {
          case Op.AckMux:
            stream.onAck(frame);
            return;
          case Op.MuxConnectError:
            stream.onServerError(decodeErrorPayload(frame.payload));
            return;
          case Op.MuxServerMsg:
            stream.onServerMessage(frame);
            return;
          case Op.UnblockClientMux:
            stream.onCredits(frame.seq);
            return;
          case Op.DisconnectServerMux:
            stream.onServerError(
              (frame.flags & Flag.PayloadIsError) !== 0
                ? decodeErrorPayload(frame.payload)
                : new AbortError("stream ended by the server"),
            );
            return;
          default:
            return; // Pong: being heard is all it carries
        }
      }
      default:
        throw new ProtocolError(`unexpected ${frame.op} frame on an established connection`);
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * The error of a stream whose next message from the peer would take the bytes waiting
   * unread in this peer's streams beyond `maxUnreadStreamBytes`: the stream fails (both
   * sides) and its queue is freed. The peer kept to its credits: not a protocol fault.
   */
  unreadExhausted(handler: number): ResourceExhaustedError {
    return new ResourceExhaustedError(
      `${this.local} holds ${this.options.maxUnreadStreamBytes} bytes of stream messages from ${this.remote} ` +
        `that their consumers have not read (maxUnreadStreamBytes): stream of ${this.names.label(handler)} failed; ` +
        `read faster, lower the stream's capacity or raise the option`,
    );
  }

  /**
   * A stream was failed for a protocol fault of the peer (already reported on the stream).
   * A peer that keeps doing it loses the link: throws ProtocolError past `maxStreamFaults`.
   */
  streamFault(reason: ProtocolError): void {
    if (++this.streamFaults > this.options.maxStreamFaults) {
      throw new ProtocolError(`${this.streamFaults} stream protocol faults on this link (maxStreamFaults ${this.options.maxStreamFaults}), the last: ${reason.rawMessage}`);
    }
  }

  /**
   * Writes a frame that never waits for room in the outgoing queue: answers, stream messages
   * (bounded by credits instead), credits, cancels, pings.
   */
  writeControl(op: Op, muxId: number, flags: number, payload: Uint8Array | undefined, seq = 0): void {
    this.writer.writeFields(op, flags, 0, muxId, seq, 0, payload);
  }

  trace(record: Omit<CallTrace, "peer">): void {
    const trace = this.options.trace;
    if (trace === undefined) return;
    try {
      trace({ ...record, handlerName: this.names.get(record.handler), peer: this.remote });
    } catch (err) {
      this.options.logger.warn("trace callback threw", { error: err });
    }
  }
}

/** The end of the server chain: runs the handler the call was dispatched to. */
const serverTerminal: ServerNext = (call) => {
  try {
    return Promise.resolve((call as unknown as IncomingRequest | IncomingStream).invoke()) as ReturnType<ServerNext>;
  } catch (err) {
    return Promise.reject(err);
  }
};

/** Tells each observer of a stream that a message passed; an observer that throws is logged. */
export function notifyMessage(mux: Mux, observers: readonly StreamObserver[], direction: "in" | "out", bytes: number): void {
  for (const o of observers) {
    try {
      o.onMessage?.(direction, bytes);
    } catch (err) {
      mux.options.logger.warn("stream observer threw", { peer: mux.remote, error: err });
    }
  }
}

/** Tells each observer of a stream that it ended. */
export function notifyEnd(mux: Mux, observers: readonly StreamObserver[], error: GridError | undefined): void {
  for (const o of observers) {
    try {
      o.onEnd?.(error);
    } catch (err) {
      mux.options.logger.warn("stream observer threw", { peer: mux.remote, error: err });
    }
  }
}

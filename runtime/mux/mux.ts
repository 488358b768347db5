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
  GridError,
  MessageTooLargeError,
  ProtocolError,
  ResourceExhaustedError,
  UnknownHandlerError,
} from "../errors.js";
import type { CallTrace, ConnectionOptions } from "../connection/options.js";
import { HandlerFailures } from "../handlers/handler-failure.js";
import type { HandlerRegistry } from "../handlers/handler-registry.js";
import { decodeErrorPayload, encodeErrorPayload } from "../protocol/error-payload.js";
import { Flag, MAX_HANDLER_ID, MAX_U32, Op } from "../protocol/frame.js";
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
  /** Set by the Connection: something broke the link beyond repair (drops it). */
  onFatal: (err: unknown) => void = () => {};
  /** Set by the Connection: the peer read nothing of our backlog for `writeTimeoutMs` (drops it). */
  onWriteTimeout: (backlogBytes: number, stalledMs: number) => void = () => {};
  /** Streams of the incoming table (the rest of it are single requests). */
  private incomingStreams = 0;
  /** Stream-level protocol faults of the current link. */
  private streamFaults = 0;
  /** The error payloads of refusals at the caps, encoded on first use. */
  private callsRefusal: Uint8Array | undefined;
  private streamsRefusal: Uint8Array | undefined;
  private nextId = 1;
  /** Changes on every attach and detach: a call knows whether its link is still the current one. */
  private link = 0;
  /** Why the link of an earlier `link` value ended (the last detach). */
  private detachReason: DisconnectedError | undefined;
  private streamTimer: NodeJS.Timeout | undefined;
  private lastStreamCheck = 0;

  constructor(init: MuxInit) {
    this.options = init.options;
    this.remote = init.remote;
    this.local = init.local;
    this.registry = init.registry;
    this.failures = new HandlerFailures(init.options.logger, init.local, init.remote);
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
    if (!this.connected) return new DisconnectedError(`not connected to ${this.remote}`);
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
    const deadlineMs = this.admit(handler, payload, true, opts, opts?.timeoutMs ?? this.options.defaultTimeoutMs);
    if (typeof deadlineMs !== "number") return Promise.reject(deadlineMs);
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
      this.writer.writeFields(Op.Request, 0, handler, id, 0, deadlineMs, payload, subrouteBytes);
    } else {
      // Only a call that waits for room keeps its frame as an object.
      call.pendingFrame = { op: Op.Request, flags: 0, handler, muxId: id, seq: 0, deadlineMs, subroute, payload };
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
    const handler = this.registry.single(handlerId, frame.subroute);
    // Only calls still being served count (a synchronous answer never enters the table).
    if (this.incoming.size - this.incomingStreams >= this.options.maxIncomingCalls) {
      // Encoded once per link: a flood of refusals costs no Error (and stack trace) each.
      this.callsRefusal ??= encodeErrorPayload(
        new ResourceExhaustedError(`${this.local} is serving ${this.options.maxIncomingCalls} calls from ${this.remote} already (maxIncomingCalls)`),
      );
      this.writeControl(Op.Response, id, Flag.PayloadIsError, this.callsRefusal);
      return;
    }
    if (handler === undefined) {
      const where = frame.subroute === undefined ? "" : ` under subroute "${frame.subroute}"`;
      this.writeControl(Op.Response, id, Flag.PayloadIsError, encodeErrorPayload(
        new UnknownHandlerError(`no single handler ${handlerId}${where} on ${this.local}`),
      ));
      return;
    }
    const call = new IncomingRequest(this, id, handlerId, this.remote, frame.subroute);
    this.callsIn++;
    const deadlineMs = frame.deadlineMs;
    if (deadlineMs > 0 || this.options.trace !== undefined) {
      const now = performance.now();
      call.startedAt = now;
      if (deadlineMs > 0) call.deadlineAt = now + deadlineMs;
    }
    const payload = frame.payload ?? EMPTY;
    call.bytesIn = payload.byteLength;
    const link = this.link;
    let result: Uint8Array | Promise<Uint8Array>;
    try {
      result = handler(payload, call);
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
    if (deadlineMs > 0) this.wheel.add(call);
    void this.awaitSingle(call, result);
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
    call.done = true;
    if (this.incoming.get(call.muxId) === call) this.incoming.delete(call.muxId);
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

  /** An incoming request's deadline passed: abort its handler; the caller gave up already. */
  expireIncoming(call: IncomingRequest): void {
    if (call.done) return;
    call.done = true;
    this.incoming.delete(call.muxId);
    const err = new DeadlineExceededError(`request to handler ${call.handler} exceeded its deadline`);
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
    call.done = true;
    this.incoming.delete(call.muxId);
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
    // Streams have no deadline unless the caller gives one: their liveness is the stream ping.
    const deadlineMs = this.admit(handler, payload, false, opts, opts?.timeoutMs);
    if (typeof deadlineMs !== "number") return Promise.reject(deadlineMs);
    const stream = new OutgoingStream(this, this.allocId(), handler, subroute, opts?.signal);
    this.outgoing.set(stream.muxId, stream);
    this.streams.add(stream);
    this.startStreamTimer();
    this.callsOut++;
    return stream.open(payload, deadlineMs, subrouteBytes);
  }

  private onConnectMux(frame: Frame): void {
    const id = frame.muxId;
    if (this.incoming.has(id)) throw new ProtocolError(`ConnectMux reuses mux id ${id} of a call still in flight`);
    const entry = this.registry.stream(frame.handler, frame.subroute);
    if (entry === undefined) {
      const where = frame.subroute === undefined ? "" : ` under subroute "${frame.subroute}"`;
      this.writeControl(Op.MuxConnectError, id, Flag.PayloadIsError, encodeErrorPayload(
        new UnknownHandlerError(`no stream handler ${frame.handler}${where} on ${this.local}`),
      ));
      return;
    }
    if (this.incomingStreams >= this.options.maxIncomingStreams) {
      this.streamsRefusal ??= encodeErrorPayload(
        new ResourceExhaustedError(`${this.local} has ${this.options.maxIncomingStreams} streams open from ${this.remote} already (maxIncomingStreams)`),
      );
      this.writeControl(Op.MuxConnectError, id, Flag.PayloadIsError, this.streamsRefusal);
      return;
    }
    const deadlineMs = frame.deadlineMs;
    const stream = new IncomingStream(this, id, frame.handler, entry, this.remote, frame.subroute);
    this.incoming.set(id, stream);
    this.incomingStreams++;
    this.streams.add(stream);
    this.startStreamTimer();
    this.callsIn++;
    if (deadlineMs > 0) {
      stream.deadlineAt = performance.now() + deadlineMs;
      this.wheel.add(stream);
    }
    stream.start(frame.payload);
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
      if (stream instanceof OutgoingStream && stream.pingable) {
        this.writeControl(Op.Ping, stream.muxId, 0, undefined);
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
      trace({ ...record, peer: this.remote });
    } catch (err) {
      this.options.logger.warn("trace callback threw", { error: err });
    }
  }
}

/**
 * A Connection: everything one server has in flight with one peer, over whichever transport
 * is currently attached. The Manager dials, authenticates, and `attach`es a transport; the
 * Connection carries calls in both directions, keeps the link alive with pings, and fails
 * every call when the link goes.
 */
import { AbortError, DisconnectedError, GridError, ProtocolError } from "../errors.js";
import type { HandlerRegistry } from "../handlers/handler-registry.js";
import { Mux } from "../mux/mux.js";
import { beginReadTurn } from "../mux/read-turn.js";
import { MAX_ERROR_MESSAGE_CHARS } from "../protocol/error-payload.js";
import type { Interceptors } from "../interceptors.js";
import { Flag, MAX_U32, Op, decodeMessage, decodeParts, emptyFrame, encodeSubroute, opName } from "../protocol/frame.js";
import type { DecodeLimits, Frame } from "../protocol/frame.js";
import type { MessageTransport, TransportHandlers } from "../transport/message-transport.js";
import type { Caller, CallOptions, HandlerID, Stream } from "../types.js";
import { resolveConnectionOptions } from "./options.js";
import type { ConnectionOptions } from "./options.js";

/** Largest connection-level Ping payload echoed (ours are 8 bytes); a bigger one is a protocol error. */
export const MAX_PING_PAYLOAD_BYTES = 64;

export type ConnectionState = "disconnected" | "connecting" | "connected" | "closed";

export interface ConnectionStats {
  /** Calls this side started (requests and streams), since creation. */
  callsOut: number;
  /** Calls the peer started, since creation. */
  callsIn: number;
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Transport messages (a Merged message counts once). */
  messagesIn: number;
  messagesOut: number;
  /** Attaches after the first one. */
  reconnects: number;
  /** Calls in both tables right now. */
  inFlight: number;
  /** Last connection-level ping round trip, ms (undefined before the first pong). */
  rttMs: number | undefined;
  /** Bytes queued and not yet written to the socket (new calls wait above `maxQueuedBytes`). */
  queuedBytes: number;
  /** Calls waiting for room in that queue. */
  waitingForRoom: number;
  /**
   * Open streams whose sending side (a handler's output here, or input this side sends)
   * waits for the peer's credits: a slow consumer on the other end.
   */
  awaitingCredit: number;
}

type StateListener = (state: ConnectionState, previous: ConnectionState, reason?: Error) => void;

/** Why a connection is not up: a sentence for errors and logs, and the failure behind it. */
export interface NotConnectedReason {
  text: string;
  cause: Error | undefined;
}

/**
 * What the owner of a Connection (the Manager) knows about why it is not up, beyond the last
 * failure the Connection saw itself: a configuration that cannot work (this server accepts
 * nothing while the peer is the one that dials), a peer that never showed up.
 */
export interface ConnectionDiagnosis {
  /** Why the connection is not up, given the last failure this connection saw (if any); undefined to use that failure. */
  explain(lastFailure: Error | undefined): NotConnectedReason | undefined;
  /** Someone started waiting for the connection (`waitConnected`). */
  onWait(): void;
}

/** Reasons of a disconnect the peer announced (its `close()`, a drain): not a failure. */
const peerCloses = new WeakSet<Error>();

/** Whether `reason` (of a state change to "disconnected") is the peer closing the link on purpose. */
export function isPeerClose(reason: Error | undefined): boolean {
  return reason !== undefined && peerCloses.has(reason);
}

function describeError(err: Error): string {
  return err instanceof GridError ? err.message : `${err.name}: ${err.message}`;
}

interface ConnectedWaiter {
  resolve: () => void;
  reject: (err: GridError) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A view of a connection whose calls carry a subroute. */
class SubrouteCaller implements Caller {
  private readonly bytes: Uint8Array;
  constructor(
    private readonly mux: Mux,
    private readonly name: string,
  ) {
    this.bytes = encodeSubroute(name);
  }
  request(handler: HandlerID, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return this.mux.request(handler, payload, opts, this.name, this.bytes);
  }
  newStream(handler: HandlerID, payload?: Uint8Array, opts?: CallOptions): Promise<Stream> {
    return this.mux.newStream(handler, payload, opts, this.name, this.bytes);
  }
  nameHandlers(service: string, ids: Readonly<Record<string, number>>): void {
    this.mux.names.addService(service, ids);
  }
}

/** How often a draining connection checks whether its calls have finished. */
const DRAIN_POLL_MS = 5;

export class Connection implements Caller {
  readonly local: string;
  readonly remote: string;
  readonly options: ConnectionOptions;
  private readonly mux: Mux;
  private _state: ConnectionState = "disconnected";
  private transport: MessageTransport | undefined;
  private readonly listeners = new Set<StateListener>();
  private waiters: ConnectedWaiter[] = [];
  private readonly limits: DecodeLimits;
  private readonly decoded: Frame = emptyFrame();
  private attaches = 0;
  /** When the ping check last knew the peer alive (`performance.now()`). */
  private lastReceived = 0;
  /** A message arrived since the last ping check (cheaper than a clock read per message). */
  private heard = false;
  private lastPingSent = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingTick = 0;
  private lastPingCheck = 0;
  /** A ping-timeout verdict waits for the next check phase (`confirmSilent`). */
  private verdictPending = false;
  private counters = { bytesIn: 0, framesIn: 0, messagesIn: 0 };
  private rttMs: number | undefined;
  private remoteInstanceId: string | undefined;
  /** This side is draining (`drain`): new calls fail with DrainingError, on every link. */
  private draining: string | undefined;
  /** The peer acknowledged this link's GoAway. */
  private goAwayAcked = false;
  /** The peer sent GoAway on the current (or last) link: it is draining, or drained and gone. */
  private peerWentAway = false;
  /** Why the link last went down or could not be made (cleared when connected). */
  private lastFailure: Error | undefined;
  private diagnosis: ConnectionDiagnosis | undefined;

  constructor(init: {
    local: string;
    remote: string;
    handlers: HandlerRegistry;
    options?: Partial<ConnectionOptions>;
  }) {
    this.local = init.local;
    this.remote = init.remote;
    this.options = resolveConnectionOptions(init.options);
    this.limits = { maxPayloadBytes: this.options.maxMessageBytes };
    this.mux = new Mux({ local: init.local, remote: init.remote, registry: init.handlers, options: this.options });
    this.mux.notConnected = () => {
      const why = this.whyNotConnected();
      return new DisconnectedError(`not connected to ${this.remote}: ${why.text}`, { cause: why.cause });
    };
    this.mux.onFatal = (err) => {
      const message = err instanceof Error ? err.message : String(err);
      this.options.logger.error("cannot encode outgoing frames, dropping the connection", {
        local: this.local,
        remote: this.remote,
        reason: message,
      });
      this.detach(new ProtocolError(`cannot encode outgoing frames: ${message}`, { cause: err }));
    };
    this.mux.onWriteTimeout = (backlogBytes, stalledMs) => {
      this.options.logger.warn("peer is not reading, dropping the connection", {
        local: this.local,
        remote: this.remote,
        backlogBytes,
        writeTimeoutMs: this.options.writeTimeoutMs,
      });
      this.detach(new DisconnectedError(
        `${this.remote} read none of ${backlogBytes} queued bytes for ${Math.round(stalledMs)} ms (writeTimeoutMs)`,
      ));
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The peer's instance id given at the last attach, if any. */
  get peerInstanceId(): string | undefined {
    return this.remoteInstanceId;
  }

  get stats(): ConnectionStats {
    const w = this.mux.writer.counters;
    return {
      callsOut: this.mux.callsOut,
      callsIn: this.mux.callsIn,
      bytesIn: this.counters.bytesIn,
      bytesOut: w.bytesOut,
      framesIn: this.counters.framesIn,
      framesOut: w.framesOut,
      messagesIn: this.counters.messagesIn,
      messagesOut: w.messagesOut,
      reconnects: Math.max(0, this.attaches - 1),
      inFlight: this.mux.inFlight,
      rttMs: this.rttMs,
      queuedBytes: this.mux.writer.backlog,
      waitingForRoom: this.mux.writer.roomWaiters,
      awaitingCredit: this.mux.awaitingCredit,
    };
  }

  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setConnecting(): void {
    if (this._state === "closed" || this._state === "connected") return;
    this.setState("connecting");
  }

  attach(transport: MessageTransport, info?: { remoteInstanceId?: string }): void {
    if (this._state === "closed") {
      transport.terminate();
      return;
    }
    if (this.transport !== undefined) this.detach(new DisconnectedError("replaced by a new transport"));
    this.transport = transport;
    this.remoteInstanceId = info?.remoteInstanceId;
    this.attaches++;
    this.mux.attach(transport);
    // A new link: the peer's earlier GoAway (it restarted) and its acknowledgment no longer hold.
    this.mux.drainMessage = this.draining;
    this.mux.refuseIncoming = false;
    this.goAwayAcked = false;
    this.peerWentAway = false;
    this.lastReceived = this.lastPingSent = performance.now();
    this.heard = false;
    this.startPings();
    const handlers: TransportHandlers = {
      onMessage: (data) => {
        if (this.transport === transport) this.onMessage(data, undefined);
      },
      onParts: (parts) => {
        if (this.transport === transport) this.onMessage(undefined, parts);
      },
      onClose: (reason) => {
        if (this.transport === transport) this.detach(reason ?? new DisconnectedError("transport closed"));
      },
    };
    this.setState("connected");
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) this.settleWaiter(w, undefined);
    // Last: setHandlers may deliver messages that arrived during the handshake right away.
    if (this.transport === transport) transport.setHandlers(handlers);
  }

  detach(reason: Error): void {
    this.drop(reason, false);
  }

  close(): void {
    if (this._state === "closed") return;
    this.drop(new DisconnectedError("connection closed"), true);
    this.setState("closed");
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) this.settleWaiter(w, new DisconnectedError("connection closed"));
  }

  /**
   * Resolves once connected. Aborting `signal` (say `AbortSignal.timeout(5000)`) rejects with
   * an AbortError that says why the connection is not up, the last failure (a refused
   * handshake, a refused or timed-out dial) as its `cause`.
   */
  waitConnected(opts?: { signal?: AbortSignal }): Promise<void> {
    if (this._state === "connected") return Promise.resolve();
    if (this._state === "closed") return Promise.reject(new DisconnectedError("connection closed"));
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(this.gaveUp(signal));
    const promise = new Promise<void>((resolve, reject) => {
      const w: ConnectedWaiter = { resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          this.settleWaiter(w, this.gaveUp(signal));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
    this.diagnosis?.onWait();
    return promise;
  }

  /** Why this connection is not up, as far as this side knows. */
  whyNotConnected(): NotConnectedReason {
    if (this._state === "connected") return { text: "connected", cause: undefined };
    if (this._state === "closed") return { text: "connection closed", cause: undefined };
    const explained = this.diagnosis?.explain(this.lastFailure);
    if (explained !== undefined) return explained;
    if (this.lastFailure !== undefined) return { text: describeError(this.lastFailure), cause: this.lastFailure };
    return { text: "no connection attempt has finished yet", cause: undefined };
  }

  /**
   * Records why the peer could not connect when that is learnt outside this connection's
   * own state changes (the listening side refused the peer's handshake). Internal: the Manager's.
   */
  noteFailure(reason: Error): void {
    if (this._state !== "connected") this.lastFailure = reason;
  }

  /** Internal: the Manager's view of why this connection is not up (see ConnectionDiagnosis). */
  setDiagnosis(diagnosis: ConnectionDiagnosis): void {
    this.diagnosis = diagnosis;
  }

  private gaveUp(signal: AbortSignal): AbortError {
    const why = this.whyNotConnected();
    const timedOut = signal.reason instanceof Error && signal.reason.name === "TimeoutError";
    return new AbortError(`gave up waiting for ${this.remote}${timedOut ? " (timed out)" : ""}: ${why.text}`, {
      cause: why.cause ?? signal.reason,
    });
  }

  subroute(name: string): Caller {
    return new SubrouteCaller(this.mux, name);
  }

  request(handler: HandlerID, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return this.mux.request(handler, payload, opts, undefined, undefined);
  }

  newStream(handler: HandlerID, payload?: Uint8Array, opts?: CallOptions): Promise<Stream> {
    return this.mux.newStream(handler, payload, opts, undefined, undefined);
  }

  /**
   * Adds interceptors for this connection's calls only, inside the Manager's (which run
   * first). Composed here, once; calls never walk a list.
   */
  intercept(interceptors: Interceptors): void {
    this.mux.addInterceptors(interceptors);
  }

  /** Names a service's handlers (`Locker.lock (id 1)`); generated clients call it. */
  nameHandlers(service: string, ids: Readonly<Record<string, number>>): void {
    this.mux.names.addService(service, ids);
  }

  /**
   * Starts a graceful drain of this link (`Manager.drain` does it for every peer): sends
   * GoAway, so the peer starts no new call on it, and fails this side's new calls with
   * DrainingError. Calls already in flight in both directions go on. Resolves true once the
   * peer has acknowledged and no call is left in either direction, false if the link dropped
   * or `timeoutMs` passed first. The link stays open: closing it is the caller's move.
   */
  drain(timeoutMs: number): Promise<boolean> {
    this.draining ??= `${this.local} is draining; retry elsewhere`;
    this.mux.drainMessage = this.draining;
    if (this.transport === undefined) return Promise.resolve(this.mux.inFlight === 0);
    const link = this.transport;
    this.mux.writer.writeFields(Op.GoAway, 0, 0, 0, 0, Math.min(Math.max(0, Math.ceil(timeoutMs)), MAX_U32), undefined);
    this.mux.writer.flush();
    const end = performance.now() + timeoutMs;
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (this.transport !== link) return resolve(false);
        if (this.goAwayAcked && this.mux.inFlight === 0) return resolve(true);
        if (performance.now() >= end) return resolve(false);
        setTimeout(check, DRAIN_POLL_MS).unref();
      };
      check();
    });
  }

  /** Whether this side is draining. */
  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  /**
   * Whether the peer announced a drain (GoAway) on the current or last link: new calls to it
   * fail with DrainingError until a new link is attached (it restarted).
   */
  get peerDraining(): boolean {
    return this.peerWentAway;
  }

  // ---- internals ----------------------------------------------------------------------------

  private drop(reason: Error, graceful: boolean): void {
    const transport = this.transport;
    if (transport === undefined) {
      if (this._state === "connecting") this.setState("disconnected", reason);
      return;
    }
    this.transport = undefined;
    this.stopPings();
    if (graceful) {
      // Tell the peer why, flush what is queued, then close the socket cleanly.
      this.mux.writeControl(Op.Disconnect, 0, 0, new TextEncoder().encode(reason.message));
      this.mux.writer.flush();
    }
    const why = reason instanceof GridError ? reason.rawMessage : reason.message;
    const err = new DisconnectedError(`connection to ${this.remote} lost: ${why}`, { cause: reason });
    this.mux.detach(err);
    if (graceful) transport.close(1000, "closed");
    else transport.terminate();
    this.setState("disconnected", reason);
  }

  /** One received message: whole (`data`), or in the parts it arrived in (`parts`). */
  private onMessage(data: Uint8Array | undefined, parts: readonly Uint8Array[] | undefined): void {
    // What this message causes is flushed at the end of the read turn, with what the other
    // links read in this iteration cause (runtime/mux/read-turn.ts).
    beginReadTurn();
    this.heard = true;
    const c = this.counters;
    c.messagesIn++;
    try {
      if (data !== undefined) {
        c.bytesIn += data.byteLength;
        decodeMessage(data, this.limits, this.decoded, this.onFrame);
      } else {
        for (const part of parts!) c.bytesIn += part.byteLength;
        decodeParts(parts!, this.limits, this.decoded, this.onFrame);
      }
      this.mux.writer.flushUnlessBurst();
    } catch (err) {
      if (this.transport === undefined) return; // already detached by a frame of this message
      const protocolError =
        err instanceof ProtocolError
          ? err
          : new ProtocolError(`internal error handling a frame: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      this.options.logger.error("protocol error from peer, dropping the connection", {
        local: this.local,
        remote: this.remote,
        reason: protocolError.rawMessage,
      });
      this.detach(protocolError);
    }
  }

  private readonly onFrame = (frame: Frame): void => {
    if (this.transport === undefined) return; // detached while handling an earlier frame
    this.counters.framesIn++;
    if (frame.muxId === 0) {
      switch (frame.op) {
        case Op.Ping:
          // The pong echoes the payload: a big one would make us queue what the peer chose.
          if (frame.payload !== undefined && frame.payload.byteLength > MAX_PING_PAYLOAD_BYTES) {
            throw new ProtocolError(`Ping payload of ${frame.payload.byteLength} bytes exceeds ${MAX_PING_PAYLOAD_BYTES}`);
          }
          this.mux.writeControl(Op.Pong, 0, 0, frame.payload);
          return;
        case Op.Pong:
          this.onPong(frame.payload);
          return;
        case Op.GoAway:
          this.onGoAway(frame.deadlineMs);
          return;
        case Op.GoAwayAck:
          if (this.draining !== undefined) {
            this.goAwayAcked = true;
            this.mux.refuseIncoming = true;
          }
          return;
        case Op.Disconnect: {
          // The peer's words end up in errors and logs: bounded like an error payload's message.
          const bytes = frame.payload?.subarray(0, 4 * MAX_ERROR_MESSAGE_CHARS);
          const why = bytes === undefined ? "" : new TextDecoder().decode(bytes).slice(0, MAX_ERROR_MESSAGE_CHARS);
          const reason = new DisconnectedError(`peer closed the connection${why ? `: ${why}` : ""}`);
          peerCloses.add(reason);
          this.detach(reason);
          return;
        }
        case Op.Connect:
        case Op.ConnectResponse:
          throw new ProtocolError(`${opName(frame.op)} after the handshake`);
        default:
          throw new ProtocolError(`${opName(frame.op)} with mux id 0 (no call has id 0)`);
      }
    }
    if (frame.op === Op.Merged) throw new ProtocolError("nested Merged frame");
    if ((frame.flags & Flag.HasMetadata) !== 0 && frame.op !== Op.Request && frame.op !== Op.ConnectMux) {
      throw new ProtocolError(`HasMetadata on ${opName(frame.op)} (only a call's first frame carries metadata)`);
    }
    if (
      frame.op === Op.Disconnect ||
      frame.op === Op.Connect ||
      frame.op === Op.ConnectResponse ||
      frame.op === Op.GoAway ||
      frame.op === Op.GoAwayAck
    ) {
      throw new ProtocolError(`${opName(frame.op)} with mux id ${frame.muxId}`);
    }
    this.mux.dispatch(frame);
  };

  /**
   * The peer is draining: start no new call on this link (they fail with DrainingError until
   * a new link replaces it: the peer restarted), and acknowledge, behind every call already
   * sent, so the peer knows nothing more is coming.
   */
  private onGoAway(timeoutMs: number): void {
    this.peerWentAway = true;
    if (this.mux.drainMessage === undefined || this.draining === this.mux.drainMessage) {
      this.mux.drainMessage = `${this.remote} is draining; retry elsewhere`;
    }
    this.options.logger.info("peer is draining", { local: this.local, remote: this.remote, timeoutMs });
    this.mux.writeControl(Op.GoAwayAck, 0, 0, undefined);
  }

  private onPong(payload: Uint8Array | undefined): void {
    if (payload === undefined || payload.byteLength !== 8) return;
    const sent = new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0, true);
    const rtt = performance.now() - sent;
    if (rtt >= 0 && Number.isFinite(rtt)) this.rttMs = rtt;
  }

  private startPings(): void {
    this.stopPings();
    const tick = Math.max(1, Math.min(this.options.pingIntervalMs, this.options.pingTimeoutMs / 4));
    this.pingTick = tick;
    this.lastPingCheck = performance.now();
    this.pingTimer = setInterval(this.checkPing, tick);
    this.pingTimer.unref();
  }

  private stopPings(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private readonly checkPing = (): void => {
    if (this.transport === undefined) return;
    const now = performance.now();
    // Our own event loop was stalled (GC, a long synchronous job): nothing could be read
    // meanwhile, so the stall does not count as the peer's silence.
    const late = now - this.lastPingCheck - this.pingTick;
    if (late > this.pingTick / 2) this.lastReceived += late;
    this.lastPingCheck = now;
    if (this.heard || this.mux.writer.readPaused) {
      // Heard from it; or we stopped reading it ourselves (the write timeout judges that).
      this.heard = false;
      this.lastReceived = now;
    }
    const silent = now - this.lastReceived;
    if (silent > this.options.pingTimeoutMs && !this.verdictPending) {
      // The verdict waits for the poll phase: what already arrived is read first.
      this.verdictPending = true;
      setImmediate(this.confirmSilent);
      return;
    }
    if (now - this.lastPingSent >= this.options.pingIntervalMs) {
      this.lastPingSent = now;
      const stamp = new Uint8Array(8);
      new DataView(stamp.buffer).setFloat64(0, now, true);
      this.mux.writeControl(Op.Ping, 0, 0, stamp);
    }
  };

  /** A ping timeout, judged once pending I/O was read (a frame read meanwhile saves the link). */
  private readonly confirmSilent = (): void => {
    this.verdictPending = false;
    if (this.transport === undefined) return;
    const now = performance.now();
    if (this.heard) {
      this.heard = false;
      this.lastReceived = now;
      return;
    }
    const silent = now - this.lastReceived;
    if (silent <= this.options.pingTimeoutMs) return;
    this.options.logger.warn("peer silent, dropping the connection", {
      local: this.local,
      remote: this.remote,
      silentMs: Math.round(silent),
    });
    this.detach(new DisconnectedError(`no frame from ${this.remote} for ${Math.round(silent)} ms (ping timeout)`));
  };

  private setState(state: ConnectionState, reason?: Error): void {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    if (state === "connected") this.lastFailure = undefined;
    else if (reason !== undefined) this.lastFailure = reason;
    for (const listener of [...this.listeners]) {
      try {
        listener(state, previous, reason);
      } catch (err) {
        this.options.logger.warn("state listener threw", { local: this.local, peer: this.remote, error: err });
      }
    }
  }

  private settleWaiter(w: ConnectedWaiter, err: GridError | undefined): void {
    if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener("abort", w.onAbort);
    if (err === undefined) w.resolve();
    else w.reject(err);
  }
}

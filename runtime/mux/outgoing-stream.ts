/**
 * The caller's side of a stream (an entry of the OUTGOING table).
 *
 * Opening sends ConnectMux and resolves on the server's AckMux, which carries the
 * capacities: `outCapacity` sizes our response queue (the server starts with that many
 * credits), `inCapacity` is how many input messages we may send before the server grants
 * more (0: the handler takes no input, so `requests` is absent).
 */
import { AbortError, DeadlineExceededError, DisconnectedError, MessageTooLargeError, ProtocolError } from "../errors.js";
import type { GridError } from "../errors.js";
import { MAX_STREAM_CAPACITY } from "../handlers/handler-registry.js";
import { encodeErrorPayload } from "../protocol/error-payload.js";
import { Flag, Op } from "../protocol/frame.js";
import type { Frame } from "../protocol/frame.js";
import type { StreamObserver } from "../interceptors.js";
import type { Stream, StreamWriter } from "../types.js";
import type { Abortable } from "./abort-groups.js";
import type { Bucket, DeadlineEntry } from "./deadline-wheel.js";
import type { RoomWaiter } from "./frame-writer.js";
import { notifyEnd, notifyMessage } from "./mux.js";
import type { Mux } from "./mux.js";
import { CallKind } from "./outgoing-calls.js";
import { InboundQueue, Pushed, YieldBudget, nextTurn } from "./stream-flow.js";
import type { InboundOwner } from "./stream-flow.js";

const RESOLVED: Promise<void> = Promise.resolve();

const State = { Opening: 0, Open: 1, Done: 2 } as const;
type State = (typeof State)[keyof typeof State];

interface PendingSend {
  msg: Uint8Array;
  resolve: () => void;
  reject: (err: GridError) => void;
}

/** The input half: `send` resolves once the message is within the server's credits. */
class StreamInput implements StreamWriter {
  constructor(private readonly stream: OutgoingStream) {}
  send(msg: Uint8Array): Promise<void> {
    return this.stream.sendInput(msg);
  }
  close(): void {
    this.stream.closeInput();
  }
}

export class OutgoingStream implements Stream, DeadlineEntry, RoomWaiter, InboundOwner, Abortable {
  readonly kind = CallKind.Stream;
  responses!: InboundQueue;
  requests: StreamWriter | undefined;
  /** When the liveness check last saw a frame of this stream (`performance.now()`). */
  lastSeen = performance.now();
  /** A frame of this stream arrived since the last liveness check (cheaper than a clock read per frame). */
  heard = false;
  private state: State = State.Opening;
  private openResolve!: (stream: Stream) => void;
  private openReject!: (err: GridError) => void;
  private connectFrame: Frame | undefined;
  private connectSubroute: Uint8Array | undefined;
  private sent = false;
  private inCredits = 0;
  /** Input credits the server registered (the most it may grant outstanding). */
  private inCapacity = 0;
  /** Input sent since `send` last made the caller yield to the event loop. */
  private readonly yieldBudget = new YieldBudget();
  private sendSeq = 0;
  private recvSeq = 0;
  private pending: PendingSend[] = [];
  private inputClosed = false;
  /** The input's EOF went out (once: later credits must not send it again). */
  private eofSent = false;
  private inputError: GridError | undefined;
  /** Both directions were found waiting on each other at the last liveness check (see `checkStuck`). */
  private stuckSeen = false;
  private stuckWarned = false;
  private startedAt = performance.now();
  private bytesIn = 0;
  private bytesOut = 0;
  /** Registered by client interceptors (`observe`); undefined on the plain path. */
  observers: StreamObserver[] | undefined;

  deadlineAt = 0;
  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;
  waitingForRoom = false;

  constructor(
    readonly mux: Mux,
    readonly muxId: number,
    readonly handler: number,
    readonly subroute: string | undefined,
    private signal: AbortSignal | undefined,
  ) {}

  /** Input messages wait for the server's credits (stats). */
  get awaitingCredit(): boolean {
    return this.pending.length > 0;
  }

  /** Whether the server knows this stream (ConnectMux sent), so stream pings make sense. */
  get pingable(): boolean {
    return this.sent && this.state !== State.Done;
  }

  /** `body`: the ConnectMux payload area (the payload, or metadata then payload, with `flags` HasMetadata). */
  open(
    body: Uint8Array | undefined,
    deadlineMs: number,
    subrouteBytes: Uint8Array | undefined,
    flags: number,
    payloadBytes: number,
  ): Promise<Stream> {
    const promise = new Promise<Stream>((resolve, reject) => {
      this.openResolve = resolve;
      this.openReject = reject;
    });
    if (deadlineMs > 0) {
      this.deadlineAt = performance.now() + deadlineMs;
      this.mux.wheel.add(this);
    }
    if (this.signal !== undefined) this.mux.aborts.add(this.signal, this);
    const frame: Frame = {
      op: Op.ConnectMux,
      flags,
      handler: this.handler,
      muxId: this.muxId,
      seq: 0,
      deadlineMs,
      subroute: this.subroute,
      payload: body,
    };
    this.bytesOut += payloadBytes;
    if (this.mux.writer.hasRoom()) {
      this.sent = true;
      this.mux.writer.write(frame, subrouteBytes);
    } else {
      this.connectFrame = frame;
      this.connectSubroute = subrouteBytes;
      this.mux.writer.waitForRoom(this);
    }
    return promise;
  }

  onRoom(): void {
    if (this.state === State.Done) return;
    const frame = this.connectFrame;
    if (frame === undefined) {
      // Input waited for room in the outgoing queue.
      this.drainPending();
      return;
    }
    this.connectFrame = undefined;
    this.sent = true;
    this.mux.writer.write(frame, this.connectSubroute);
    this.connectSubroute = undefined;
  }

  // ---- frames from the server ------------------------------------------------------------

  onAck(frame: Frame): void {
    if (this.state !== State.Opening) throw new ProtocolError(`AckMux for stream ${this.muxId} that is already open`);
    const p = frame.payload;
    if (p === undefined || p.byteLength !== 8) throw new ProtocolError(`AckMux payload must be 8 bytes, got ${p?.byteLength}`);
    const view = new DataView(p.buffer, p.byteOffset, 8);
    const inCapacity = view.getUint32(0, true);
    const outCapacity = view.getUint32(4, true);
    if (inCapacity > MAX_STREAM_CAPACITY || outCapacity < 1 || outCapacity > MAX_STREAM_CAPACITY) {
      throw new ProtocolError(`AckMux capacities out of range: in ${inCapacity}, out ${outCapacity}`);
    }
    this.state = State.Open;
    this.responses = new InboundQueue(outCapacity, this, this.mux.unread);
    if (inCapacity > 0) {
      this.inCredits = this.inCapacity = inCapacity;
      this.requests = new StreamInput(this);
    }
    this.openResolve(this);
  }

  onServerMessage(frame: Frame): void {
    if (this.state !== State.Open) throw new ProtocolError(`MuxServerMsg for stream ${this.muxId} before its AckMux`);
    if (frame.seq !== this.recvSeq) {
      this.fault(new ProtocolError(`stream ${this.muxId}: message ${frame.seq} out of sequence (expected ${this.recvSeq})`));
      return;
    }
    this.recvSeq = (this.recvSeq + 1) >>> 0;
    const payload = frame.payload;
    if (payload !== undefined) {
      this.bytesIn += payload.byteLength;
      if (this.observers !== undefined) notifyMessage(this.mux, this.observers, "in", payload.byteLength);
      const pushed = this.responses.push(payload);
      if (pushed !== Pushed.Queued) {
        if (pushed === Pushed.OverCredits) this.fault(new ProtocolError(`stream ${this.muxId}: server sent beyond its ${this.responses.capacity} credits`));
        else this.fail(this.mux.unreadExhausted(this.handler), true, true);
        return;
      }
    }
    if ((frame.flags & Flag.EOF) !== 0) {
      this.responses.end();
      this.finish(new AbortError("the stream was ended by the server"), undefined);
    }
  }

  onCredits(n: number): void {
    if (this.state !== State.Open || this.requests === undefined) return;
    // The server returns one credit per input message its handler took: the credits held
    // can never exceed the capacity it registered. More is a broken or hostile peer.
    if (this.inCredits + n > this.inCapacity) {
      this.fault(new ProtocolError(
        `stream ${this.muxId}: server granted ${n} credits with ${this.inCredits} unspent, beyond the capacity of ${this.inCapacity}`,
      ));
      return;
    }
    this.inCredits += n;
    this.drainPending();
  }

  /** A protocol fault of the server confined to this stream: fail it on both sides, count it. */
  private fault(err: ProtocolError): void {
    this.fail(err, true, true);
    this.mux.streamFault(err);
  }

  /** MuxConnectError, or DisconnectServerMux: the server failed or ended the stream. */
  onServerError(err: GridError): void {
    if (this.state === State.Opening) {
      this.finish(err, err);
      this.openReject(err);
      return;
    }
    this.responses.fail(err, false); // in band: after the messages already received
    this.finish(err, err);
  }

  // ---- local events -----------------------------------------------------------------------

  cancel(reason?: unknown): void {
    if (this.state === State.Done) return;
    this.fail(new AbortError("stream cancelled by the caller", { cause: reason }), true, true);
  }

  /** The caller's AbortSignal fired. */
  onAbort(reason: unknown): void {
    this.cancel(reason);
  }

  onDeadline(): void {
    this.fail(new DeadlineExceededError(`stream to ${this.mux.names.label(this.handler)} exceeded its deadline`), true, true);
  }

  peerSilent(limitMs: number): void {
    this.fail(new DisconnectedError(`stream ${this.muxId}: no answer from the server for ${limitMs} ms`), true, true);
  }

  returnCredits(n: number): void {
    if (this.state !== State.Open) return;
    this.mux.writeControl(Op.UnblockServerMux, this.muxId, 0, undefined, n);
  }

  consumerStopped(): void {
    this.cancel(new AbortError("the caller stopped reading the stream"));
  }

  /**
   * Fails the stream here; `notifyPeer` tells the server (DisconnectClientMux, with the error
   * so its handler sees the same reason).
   */
  fail(err: GridError, immediate: boolean, notifyPeer: boolean): void {
    if (this.state === State.Done) return;
    const wasOpening = this.state === State.Opening;
    if (notifyPeer && this.sent && this.mux.connected) {
      this.mux.writeControl(Op.DisconnectClientMux, this.muxId, Flag.PayloadIsError, encodeErrorPayload(err));
    }
    this.finish(err, err);
    if (wasOpening) this.openReject(err);
    else this.responses.fail(err, immediate);
  }

  /**
   * Called by the stream liveness check. The caller waits to send (no input credit) while
   * holding a full queue of responses it does not read, so the server's handler, stuck at
   * its `yield` without output credit, never takes the input that would free a credit: a
   * deadlock (the "send everything, close, then read" pattern with more messages than both
   * capacities). Seen at two checks in a row, it is logged once per stream.
   */
  checkStuck(): void {
    const stuck = this.pending.length > 0 && this.inCredits === 0 && this.responses.size >= this.responses.capacity;
    if (!stuck || this.stuckWarned) {
      this.stuckSeen = stuck;
      return;
    }
    if (!this.stuckSeen) {
      this.stuckSeen = true;
      return;
    }
    this.stuckWarned = true;
    this.mux.options.logger.warn("stream stuck: the caller waits to send and does not read", {
      local: this.mux.local,
      peer: this.mux.remote,
      handler: this.handler,
      unreadResponses: this.responses.size,
      waitingToSend: this.pending.length,
      hint: "read responses while sending (docs/streams.md#a-bidirectional-stream-read-while-you-send)",
    });
  }

  // ---- input -----------------------------------------------------------------------------

  sendInput(msg: Uint8Array): Promise<void> {
    if (this.inputError !== undefined) return Promise.reject(this.inputError);
    if (this.inputClosed) return Promise.reject(new AbortError("send after requests.close()"));
    if (!(msg instanceof Uint8Array)) return Promise.reject(new TypeError("stream message must be a Uint8Array"));
    const max = this.mux.options.maxMessageBytes;
    if (msg.byteLength > max) {
      return Promise.reject(new MessageTooLargeError(`stream message of ${msg.byteLength} bytes exceeds maxMessageBytes ${max}`));
    }
    if (this.inCredits > 0 && this.pending.length === 0 && this.mux.writer.hasRoom()) {
      this.inCredits--;
      this.writeInput(msg, 0);
      // A loop of `await send()` within credits never leaves the microtask queue: make it
      // yield to the event loop every so many messages or bytes.
      const opts = this.mux.options;
      if (this.yieldBudget.spend(msg.byteLength, opts.streamYieldMessages, opts.streamYieldBytes)) {
        return new Promise(nextTurn);
      }
      return RESOLVED;
    }
    const promise = new Promise<void>((resolve, reject) => this.pending.push({ msg, resolve, reject }));
    // Within credits but the backlog is full: input waits for room like any new call.
    if (this.inCredits > 0 && !this.waitingForRoom) this.mux.writer.waitForRoom(this);
    return promise;
  }

  closeInput(): void {
    if (this.inputClosed || this.inputError !== undefined) return;
    this.inputClosed = true;
    if (this.pending.length === 0) this.sendEof();
  }

  private sendEof(): void {
    if (this.eofSent) return;
    this.eofSent = true;
    this.writeInput(undefined, Flag.EOF);
  }

  private drainPending(): void {
    const pending = this.pending;
    const writer = this.mux.writer;
    let i = 0;
    while (i < pending.length && this.inCredits > 0) {
      if (writer.backlog >= this.mux.options.maxQueuedBytes) {
        if (!this.waitingForRoom) writer.waitForRoom(this);
        break;
      }
      const p = pending[i++]!;
      this.inCredits--;
      this.writeInput(p.msg, 0);
      p.resolve();
    }
    if (i > 0) {
      this.pending = pending.slice(i);
      // These sends waited for credits or room (a received frame, a timer): the loop turned.
      this.yieldBudget.restart();
    }
    if (this.pending.length === 0 && this.inputClosed && this.inputError === undefined) this.sendEof();
  }

  private writeInput(msg: Uint8Array | undefined, flags: number): void {
    if (msg !== undefined) {
      this.bytesOut += msg.byteLength;
      if (this.observers !== undefined) notifyMessage(this.mux, this.observers, "out", msg.byteLength);
    }
    this.mux.writeControl(Op.MuxClientMsg, this.muxId, flags, msg, this.sendSeq);
    this.sendSeq = (this.sendSeq + 1) >>> 0;
  }

  /** Leaves the table; rejects pending input sends with `inputErr`. */
  private finish(inputErr: GridError, traceErr: GridError | undefined): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    this.responses?.release(); // unset while still opening
    this.waitingForRoom = false;
    this.connectFrame = undefined;
    this.mux.forgetStream(this);
    if (this.signal !== undefined) {
      this.mux.aborts.remove(this.signal, this);
      this.signal = undefined;
    }
    this.inputError = inputErr;
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(inputErr);
    if (this.observers !== undefined) notifyEnd(this.mux, this.observers, traceErr);
    if (this.mux.options.trace !== undefined) {
      this.mux.trace({
        handler: this.handler,
        subroute: this.subroute,
        direction: "out",
        kind: "stream",
        durationMs: performance.now() - this.startedAt,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        error: traceErr,
      });
    }
  }
}

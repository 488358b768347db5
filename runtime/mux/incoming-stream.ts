/**
 * The server's side of a stream (an entry of the INCOMING table).
 *
 * The handler is an async generator: each value it yields is sent when an output credit is
 * available, and the generator stays suspended at its `yield` until then, so a slow caller
 * slows the producer instead of filling memory. Its input (when registered with an
 * `inCapacity`) is an InboundQueue that returns credits as the handler reads.
 */
import {
  DeadlineExceededError,
  DisconnectedError,
  GridError,
  MessageTooLargeError,
  ProtocolError,
} from "../errors.js";
import type { StreamEntry } from "../handlers/handler-registry.js";
import type { StreamObserver } from "../interceptors.js";
import { encodeErrorPayload } from "../protocol/error-payload.js";
import { Flag, Op } from "../protocol/frame.js";
import type { Frame } from "../protocol/frame.js";
import type { Bucket, DeadlineEntry } from "./deadline-wheel.js";
import type { RoomWaiter } from "./frame-writer.js";
import { IncomingContext } from "./incoming-calls.js";
import { notifyEnd, notifyMessage } from "./mux.js";
import type { Mux } from "./mux.js";
import { CallKind } from "./outgoing-calls.js";
import { InboundQueue, Pushed, YieldBudget, nextTurn } from "./stream-flow.js";
import type { InboundOwner } from "./stream-flow.js";

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "an object";
}

export class IncomingStream extends IncomingContext implements DeadlineEntry, InboundOwner, RoomWaiter {
  readonly kind = CallKind.Stream;
  /** For server interceptors: a stream. */
  readonly stream = true;
  /** The initial payload (set only when server interceptors run). */
  payload: Uint8Array | undefined;
  /** Registered by interceptors (`observe`); undefined on the plain path. */
  private observers: StreamObserver[] | undefined;
  /** When the liveness check last saw a frame of this stream (`performance.now()`). */
  lastSeen = performance.now();
  /** A frame of this stream arrived since the last liveness check (cheaper than a clock read per frame). */
  heard = false;
  /** The caller's messages, when the handler takes input. */
  input: InboundQueue | undefined;
  private outCredits = 0;
  private sendSeq = 0;
  private recvSeq = 0;
  private done = false;
  private creditWaiter: (() => void) | undefined;
  /** What the producer sent since it last yielded to the event loop. */
  private readonly yieldBudget = new YieldBudget();
  waitingForRoom = false;
  private roomWaiter: (() => void) | undefined;
  private readonly startedAt = performance.now();
  private bytesIn = 0;
  private bytesOut = 0;

  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;

  /** The handler's next message waits for the caller's credits (stats). */
  get awaitingCredit(): boolean {
    return this.creditWaiter !== undefined;
  }

  constructor(
    readonly mux: Mux,
    readonly muxId: number,
    readonly handler: number,
    private readonly entry: StreamEntry,
    caller: string,
    subroute: string | undefined,
  ) {
    super(caller, subroute);
  }

  get handlerName(): string | undefined {
    return this.mux.names.get(this.handler);
  }

  observe(observer: StreamObserver): void {
    (this.observers ??= []).push(observer);
  }

  /** Runs the handler (the end of the server interceptor chain). */
  invoke(): unknown {
    return this.entry.handler(this.payload, this.input, this);
  }

  /**
   * Acknowledges the stream with its capacities and starts the handler. With server
   * interceptors, the AckMux waits for them: one that rejects fails the opening
   * (MuxConnectError), so the caller's `newStream` rejects.
   */
  start(payload: Uint8Array | undefined): void {
    if (this.mux.serverChain === undefined) this.sendAck();
    if (this.entry.inCapacity > 0) this.input = new InboundQueue(this.entry.inCapacity, this, this.mux.unread);
    this.outCredits = this.entry.outCapacity;
    this.bytesIn += payload?.byteLength ?? 0;
    void this.run(payload);
  }

  private sendAck(): void {
    const ack = new Uint8Array(8);
    const view = new DataView(ack.buffer);
    view.setUint32(0, this.entry.inCapacity, true);
    view.setUint32(4, this.entry.outCapacity, true);
    this.mux.writeControl(Op.AckMux, this.muxId, 0, ack);
  }

  /** Runs the server interceptors; the handler's output, or undefined when the stream ended meanwhile. */
  private async intercepted(payload: Uint8Array | undefined): Promise<unknown> {
    this.payload = payload;
    let output: unknown;
    try {
      output = await this.mux.serverChain!(this);
    } catch (err) {
      if (!this.done) {
        const grid = GridError.from(err);
        this.mux.writeControl(Op.MuxConnectError, this.muxId, Flag.PayloadIsError, encodeErrorPayload(grid));
        this.finish(grid);
      }
      return undefined;
    }
    if (this.done) {
      // Stopped while the interceptors ran: let the handler's generator clean up.
      const it = (output as Partial<AsyncIterable<Uint8Array>> | null | undefined)?.[Symbol.asyncIterator];
      if (typeof it === "function") void Promise.resolve(it.call(output).return?.()).catch(() => {});
      return undefined;
    }
    this.sendAck();
    return output;
  }

  private async run(payload: Uint8Array | undefined): Promise<void> {
    let it: AsyncIterator<Uint8Array> | undefined;
    // A handler that produced the wrong thing: already reported, thrown to end the loop.
    let misuse: GridError | undefined;
    try {
      let output: unknown;
      if (this.mux.serverChain === undefined) output = this.entry.handler(payload, this.input, this);
      else {
        output = await this.intercepted(payload);
        if (this.done) return;
      }
      const iterate = (output as Partial<AsyncIterable<Uint8Array>> | null | undefined)?.[Symbol.asyncIterator];
      if (typeof iterate !== "function") {
        throw (misuse = this.mux.failures.misused(this.handler, "stream", `returned ${describeValue(output)}, not an AsyncIterable`));
      }
      it = iterate.call(output);
      for (;;) {
        const r = await it.next();
        if (this.done) break;
        if (r.done === true) {
          this.writeOutput(undefined, Flag.EOF);
          this.finish(undefined);
          return;
        }
        const value: unknown = r.value;
        if (!(value instanceof Uint8Array)) {
          throw (misuse = this.mux.failures.misused(this.handler, "stream", `yielded ${describeValue(value)}, not a Uint8Array`));
        }
        if (value.byteLength > this.mux.options.maxMessageBytes) {
          throw new MessageTooLargeError(
            `stream message of ${value.byteLength} bytes exceeds maxMessageBytes ${this.mux.options.maxMessageBytes}`,
          );
        }
        if (this.outCredits === 0) {
          await new Promise<void>((resolve) => (this.creditWaiter = resolve));
          if (this.done) break;
          // Credits come from a received frame: the event loop turned while we waited.
          this.yieldBudget.restart();
        }
        // Output obeys the backlog bound like every new call: wait for room when it is full.
        const writer = this.mux.writer;
        if (!writer.hasRoom()) {
          await new Promise<void>((resolve) => {
            this.roomWaiter = resolve;
            writer.waitForRoom(this);
          });
          if (this.done) break;
          this.yieldBudget.restart();
        }
        this.outCredits--;
        this.writeOutput(value, 0);
        // A generator that never awaits anything else runs in microtasks only: give the
        // event loop a turn every so many messages or bytes (I/O, timers, the writer's flush).
        const opts = this.mux.options;
        if (this.yieldBudget.spend(value.byteLength, opts.streamYieldMessages, opts.streamYieldBytes)) {
          await new Promise<void>(nextTurn);
          if (this.done) break;
        }
      }
    } catch (err) {
      if (!this.done) {
        const grid = err === misuse && misuse !== undefined ? misuse : this.mux.failures.thrown(this.handler, "stream", err);
        this.mux.writeControl(Op.DisconnectServerMux, this.muxId, Flag.PayloadIsError, encodeErrorPayload(grid));
        this.finish(grid);
      }
      return;
    }
    // Stopped from outside (cancel, deadline, disconnect) while suspended: run its finally blocks.
    try {
      await it?.return?.();
    } catch {
      // The handler's cleanup failed after the stream ended; nobody is left to tell.
    }
  }

  onClientMessage(frame: Frame): void {
    if (this.done) return;
    const input = this.input;
    if (input === undefined) {
      this.fault(new ProtocolError(`stream ${this.muxId}: input sent to a handler that takes none`));
      return;
    }
    if (frame.seq !== this.recvSeq) {
      this.fault(new ProtocolError(`stream ${this.muxId}: message ${frame.seq} out of sequence (expected ${this.recvSeq})`));
      return;
    }
    this.recvSeq = (this.recvSeq + 1) >>> 0;
    const payload = frame.payload;
    if (payload !== undefined) {
      this.bytesIn += payload.byteLength;
      if (this.observers !== undefined) notifyMessage(this.mux, this.observers, "in", payload.byteLength);
      const pushed = input.push(payload);
      if (pushed !== Pushed.Queued) {
        if (pushed === Pushed.OverCredits) this.fault(new ProtocolError(`stream ${this.muxId}: caller sent beyond its ${input.capacity} credits`));
        else this.stop(this.mux.unreadExhausted(this.handler), true);
        return;
      }
    }
    if ((frame.flags & Flag.EOF) !== 0) input.end();
  }

  onCredits(n: number): void {
    if (this.done) return;
    // The caller returns one credit per message it consumed, so the credits held can never
    // exceed the capacity it was given: more is a broken or hostile peer.
    const capacity = this.entry.outCapacity;
    if (this.outCredits + n > capacity) {
      const err = new ProtocolError(
        `stream ${this.muxId}: caller granted ${n} credits with ${this.outCredits} unspent, beyond the capacity of ${capacity}`,
      );
      this.fault(err);
      return;
    }
    this.outCredits += n;
    const wake = this.creditWaiter;
    if (wake !== undefined && this.outCredits > 0) {
      this.creditWaiter = undefined;
      wake();
    }
  }

  /**
   * Ends the stream from outside the handler: the caller cancelled (DisconnectClientMux),
   * the deadline passed, the caller went silent, or the connection is gone. Aborts
   * `ctx.signal`; `notifyPeer` tells the caller (DisconnectServerMux with the error).
   */
  stop(err: GridError, notifyPeer: boolean): void {
    if (this.done) return;
    if (notifyPeer && this.mux.connected) {
      this.mux.writeControl(Op.DisconnectServerMux, this.muxId, Flag.PayloadIsError, encodeErrorPayload(err));
    }
    this.finish(err);
    this.abort(err);
    this.input?.fail(err, true);
    const wake = this.creditWaiter;
    this.creditWaiter = undefined;
    wake?.();
    this.waitingForRoom = false;
    const room = this.roomWaiter;
    this.roomWaiter = undefined;
    room?.();
  }

  onRoom(): void {
    const room = this.roomWaiter;
    this.roomWaiter = undefined;
    room?.();
  }

  /** A protocol fault of the caller confined to this stream: fail it on both sides, count it. */
  private fault(err: ProtocolError): void {
    this.stop(err, true);
    this.mux.streamFault(err);
  }

  onDeadline(): void {
    this.stop(new DeadlineExceededError(`stream of ${this.mux.names.label(this.handler)} exceeded its deadline`), true);
  }

  peerSilent(limitMs: number): void {
    this.stop(new DisconnectedError(`stream ${this.muxId}: no ping from the caller for ${limitMs} ms`), true);
  }

  returnCredits(n: number): void {
    if (!this.done) this.mux.writeControl(Op.UnblockClientMux, this.muxId, 0, undefined, n);
  }

  consumerStopped(): void {
    // The handler stopped reading its input; later input messages are dropped by the queue.
  }

  private writeOutput(msg: Uint8Array | undefined, flags: number): void {
    if (msg !== undefined) {
      this.bytesOut += msg.byteLength;
      if (this.observers !== undefined) notifyMessage(this.mux, this.observers, "out", msg.byteLength);
    }
    this.mux.writeControl(Op.MuxServerMsg, this.muxId, flags, msg, this.sendSeq);
    this.sendSeq = (this.sendSeq + 1) >>> 0;
  }

  private finish(err: GridError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.input?.release();
    this.mux.forgetStream(this);
    if (this.observers !== undefined) notifyEnd(this.mux, this.observers, err);
    if (this.mux.options.trace !== undefined) {
      this.mux.trace({
        handler: this.handler,
        subroute: this.subroute,
        direction: "in",
        kind: "stream",
        durationMs: performance.now() - this.startedAt,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        error: err,
      });
    }
  }
}

/**
 * Sends frames, merging those queued in the same tick into one WebSocket message.
 *
 * The first frame queued schedules a flush on the microtask queue, so a lone frame goes out
 * before the event loop turns (no added latency), while every frame queued by the same
 * synchronous run (a loop of calls, the answers to one received Merged message) rides in the
 * same message: one syscall instead of hundreds.
 *
 * After a flush that carried stream messages, or a second flush since the last received
 * message was handled, the writer is in a "burst" until the event loop's check phase
 * (`setImmediate`): frames queued meanwhile are flushed together there instead of one
 * microtask at a time. That is what merges a stream's messages, which a producer emits one per
 * microtask chain (an async generator's `yield`, a loop of `await send()`), and the answers
 * of async handlers. A lone call arms no immediate of its own.
 *
 * Frames queued during a read turn (read-turn.ts: from a received message to the check phase
 * of that iteration) wait for the turn's end, one shared immediate for every connection of
 * the process, so what one poll phase read from all peers is answered with one message per
 * peer; a queue holding a full message (maxMergeFrames or maxMergeBytes) goes at once.
 *
 * A payload of ZERO_COPY_MIN_BYTES or more is not copied at all: its frame goes alone, as
 * the parts [head, payload(, crc)] of one message (a WebSocket fragment each), so the socket
 * reads the caller's bytes where they are. The caller must not modify a payload it passed
 * until it is written (docs/performance.md).
 *
 * Each message is encoded straight into its own exactly-sized buffer, never overwritten: the
 * socket keeps a reference to what it was given until the kernel takes it, so a scratch
 * buffer reused across flushes would need a second copy. Small messages are carved from
 * Node's shared Buffer pool (so an idle connection holds no buffer at all), with the pool's
 * DataView cached; a large message gets its own buffer, freed with it, so one big message
 * never pins a big buffer.
 *
 * The queue is bounded: `hasRoom()` tells new calls whether the backlog (queued + not yet
 * written by the transport) is under `maxQueuedBytes`; a call without room waits in a FIFO
 * (`waitForRoom`), polled by one shared timer. Control frames (answers, credits, cancel,
 * ping, disconnect) never wait.
 */
import { Flag, HEADER_SIZE, MAX_MERGED_FRAMES, Op, encodeFieldsInto, encodeParts } from "../protocol/frame.js";
import type { Frame } from "../protocol/frame.js";
import type { MessageTransport } from "../transport/message-transport.js";
import { flushAtEndOfTurn, readTurnOpen } from "./read-turn.js";

/** Something waiting for room in the outgoing queue. */
export interface RoomWaiter {
  /** True while queued; the waiter clears it to give up its place (e.g. on cancel). */
  waitingForRoom: boolean;
  /** Called once when there is room. */
  onRoom(): void;
}

export interface FrameWriterOptions {
  /** Bound of the backlog new calls wait for. */
  maxQueuedBytes: number;
  /** Largest Merged message built; bigger frames go alone. */
  maxMergeBytes: number;
  /** Most frames in one Merged message (default: no bound but maxMergeBytes). */
  maxMergeFrames?: number;
  /** Add a CRC32 to every frame. */
  checksum: boolean;
  /** Poll period while calls wait for room. */
  roomPollMs: number;
  /** A flush failed (a bug: frames are checked before they are queued); the link is unusable. */
  onError: (err: unknown) => void;
  /**
   * The backlog stayed at `maxQueuedBytes` or more and the transport took none of it for
   * this long: the peer does not read. Default: never.
   */
  writeTimeoutMs?: number;
  /** Called once when `writeTimeoutMs` passes (the owner drops the link). */
  onWriteTimeout?: (backlogBytes: number, stalledMs: number) => void;
}

/**
 * A payload of at least this many bytes is never copied: its frame goes alone, as the parts
 * [head, payload(, crc)] of one message (`MessageTransport.sendParts`, one WebSocket
 * fragment each), when the transport can. Below it, copying into a merged message is cheaper
 * than an extra fragment (measured: docs/performance.md, large payloads).
 */
export const ZERO_COPY_MIN_BYTES = 16 * 1024;

/** Messages up to this size come from Node's shared Buffer pool (`Buffer.allocUnsafe`). */
const POOLED_MAX = Buffer.poolSize >>> 1;

/** Numbers queued per frame: op, flags, handler, muxId, seq, deadlineMs, encoded size. */
const STRIDE = 7;
const CHECKSUM_SIZE = 4;
/** A flush of more frames than this drops the queue's arrays: a burst must not pin them. */
const KEEP_FRAMES = 256;

/**
 * Frames waiting for the flush, as fields: no object per frame, and arrays that keep their
 * backing stores across flushes (`length = 0` would free them and regrow them every flush).
 */
class FrameQueue {
  n = 0;
  meta: number[] = [];
  payloads: (Uint8Array | undefined)[] = [];
  subroutes: (Uint8Array | undefined)[] = [];

  /** Forgets the queued frames, dropping their payload references (sent buffers are not pinned). */
  clear(): void {
    if (this.n > KEEP_FRAMES) {
      // 10,000 calls put in flight at once left ~700 KiB of arrays behind on each side.
      this.meta = [];
      this.payloads = [];
      this.subroutes = [];
      this.n = 0;
      return;
    }
    const { payloads, subroutes } = this;
    for (let i = 0; i < this.n; i++) {
      payloads[i] = undefined;
      subroutes[i] = undefined;
    }
    this.n = 0;
  }
}

export interface WriterCounters {
  framesOut: number;
  messagesOut: number;
  bytesOut: number;
}

export class FrameWriter {
  private queue = new FrameQueue();
  /** The queue of the flush before, reused (swapped) so a flush allocates nothing; unset during a flush. */
  private spare: FrameQueue | undefined = new FrameQueue();
  /** DataView and bytes over the whole Buffer-pool ArrayBuffer last encoded into. */
  private poolView: DataView | undefined;
  private poolBytes: Uint8Array | undefined;
  private pendingBytes = 0;
  private scheduled = false;
  /** A flush happened in this turn of the event loop: merge until the check phase. */
  private burst = false;
  private immediateArmed = false;
  /** Stream messages are queued: their flush starts a burst. */
  private streamQueued = false;
  /** A flush happened since the last received message was handled: the next one starts a burst. */
  private flushedRecently = false;
  /** The queued frames wait for the end of the read turn (read-turn.ts). */
  private turnWait = false;
  /** Frames of one full message: maxMergeFrames within the protocol's bound. */
  private readonly fullFrames: number;
  private waiters: RoomWaiter[] = [];
  private waitersHead = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private transport: MessageTransport | undefined;
  readonly counters: WriterCounters = { framesOut: 0, messagesOut: 0, bytesOut: 0 };
  /** Watches a full backlog: progress, the read pause, the write timeout. */
  private watchTimer: NodeJS.Timeout | undefined;
  private watchBuffered = 0;
  private watchBytesOut = 0;
  private lastProgress = 0;
  private _readPaused = false;

  constructor(private readonly opts: FrameWriterOptions) {
    this.fullFrames = Math.min(opts.maxMergeFrames ?? MAX_MERGED_FRAMES, MAX_MERGED_FRAMES);
  }

  /** Starts writing to `transport` (frames queued for an old one are dropped). */
  attach(transport: MessageTransport): void {
    this.reset();
    this.transport = transport;
  }

  /** Drops whatever is queued and every room waiter (their owners fail them separately). */
  detach(): void {
    this.reset();
    this.transport = undefined;
  }

  /** Reading from the peer is paused because our backlog to it is above twice the bound. */
  get readPaused(): boolean {
    return this._readPaused;
  }

  /** Bytes queued here and in the transport. */
  get backlog(): number {
    return this.pendingBytes + (this.transport?.bufferedAmount ?? 0);
  }

  /** Calls waiting for room in the queue right now (counted at each read: for stats, not the hot path). */
  get roomWaiters(): number {
    let n = 0;
    for (let i = this.waitersHead; i < this.waiters.length; i++) if (this.waiters[i]!.waitingForRoom) n++;
    return n;
  }

  /** Whether a new call may queue now (nobody waits ahead of it, backlog under the bound). */
  hasRoom(): boolean {
    return this.waitersHead === this.waiters.length && this.backlog < this.opts.maxQueuedBytes;
  }

  /** Queues `waiter` until there is room; FIFO. */
  waitForRoom(waiter: RoomWaiter): void {
    waiter.waitingForRoom = true;
    this.waiters.push(waiter);
    if (this.watchTimer === undefined) this.startWatch();
    if (this.pollTimer === undefined) {
      this.pollTimer = setTimeout(this.poll, this.opts.roomPollMs);
      this.pollTimer.unref();
    }
  }

  /** Queues a frame; it goes out at the end of the current microtask run. */
  write(frame: Frame, subrouteBytes?: Uint8Array): void {
    this.writeFields(
      frame.op, frame.flags, frame.handler, frame.muxId, frame.seq, frame.deadlineMs, frame.payload, subrouteBytes,
    );
  }

  /** `write` from a frame's fields (the hot path: no Frame object per call). */
  writeFields(
    op: Op,
    flags: number,
    handler: number,
    muxId: number,
    seq: number,
    deadlineMs: number,
    payload: Uint8Array | undefined,
    subrouteBytes?: Uint8Array,
  ): void {
    if (this.transport === undefined) return;
    if (this.opts.checksum) flags |= Flag.Checksum;
    let size = HEADER_SIZE + (payload === undefined ? 0 : payload.byteLength);
    if (subrouteBytes !== undefined) size += 1 + subrouteBytes.byteLength;
    if ((flags & Flag.Checksum) !== 0) size += CHECKSUM_SIZE;
    const q = this.queue;
    const i = q.n++;
    const meta = q.meta;
    const m = i * STRIDE;
    meta[m] = op;
    meta[m + 1] = flags;
    meta[m + 2] = handler;
    meta[m + 3] = muxId;
    meta[m + 4] = seq;
    meta[m + 5] = deadlineMs;
    meta[m + 6] = size;
    q.payloads[i] = payload;
    q.subroutes[i] = subrouteBytes;
    if (op === Op.MuxServerMsg || op === Op.MuxClientMsg) this.streamQueued = true;
    this.pendingBytes += size;
    if (!this.scheduled) {
      this.scheduled = true;
      // In a burst, the armed setImmediate flushes; in a read turn, the turn's end does
      // (read-turn.ts); otherwise flush at the end of this microtask run.
      if (this.burst) return;
      if (readTurnOpen()) {
        this.turnWait = true;
        flushAtEndOfTurn(this);
      } else queueMicrotask(this.flush);
    } else if (this.turnWait && this.holdsFullMessage()) {
      // A full message waits for nothing more: it goes at the end of this microtask run,
      // so at high in-flight counts the peer works on it while this side reads on.
      this.turnWait = false;
      queueMicrotask(this.flush);
    }
  }

  /**
   * Sends what is queued now unless a burst is gathering frames. Called when a received
   * message has been handled: the answers of synchronous handlers go out before control
   * returns to the socket's read path, instead of after it.
   */
  flushUnlessBurst(): void {
    if (this.scheduled && !this.burst && (!readTurnOpen() || this.holdsFullMessage())) this.flush();
    this.flushedRecently = false;
  }

  /** At least one whole message (maxMergeFrames frames, or maxMergeBytes) is queued. */
  private holdsFullMessage(): boolean {
    return this.queue.n >= this.fullFrames || this.pendingBytes >= this.opts.maxMergeBytes;
  }

  /** Sends everything queued now (used before a graceful close). */
  readonly flush = (): void => {
    this.scheduled = false;
    this.turnWait = false;
    const transport = this.transport;
    const q = this.queue;
    const n = q.n;
    if (transport === undefined || n === 0) return;
    // Frames queued while this one is sent (a re-entrant write) go to another queue.
    this.queue = this.spare ?? new FrameQueue();
    this.spare = undefined;
    this.pendingBytes = 0;
    // A stream's burst of more frames than one message holds: its messages leave in one
    // socket write (one syscall, one wake-up of the peer) instead of one write each.
    // Single requests keep one write per message (at 128 in flight the peer starts on the
    // first while the rest are encoded: docs/performance.md, maxMergeFrames).
    const cork = this.streamQueued && n > this.fullFrames && transport.cork !== undefined;
    if (cork) transport.cork!();
    try {
      this.encodeAndSend(transport, q, n);
    } catch (err) {
      // Never let an exception escape a microtask (it would end the process).
      this.opts.onError(err);
    } finally {
      if (cork) transport.uncork!();
    }
    q.clear();
    this.spare = q;
    // One read of the transport's buffer per flush (not per frame): a backlog at the bound
    // starts the watch that pauses reading and enforces the write timeout.
    if (this.watchTimer === undefined && transport.bufferedAmount >= this.opts.maxQueuedBytes) this.startWatch();
    const stream = this.streamQueued;
    this.streamQueued = false;
    // Invariant: `burst` implies an armed immediate (else queued frames would wait forever).
    if (!this.immediateArmed) {
      if (stream || this.flushedRecently) {
        this.immediateArmed = true;
        this.burst = true;
        setImmediate(this.endOfTurn);
      } else {
        this.burst = false;
        this.flushedRecently = true;
      }
    }
  };

  private encodeAndSend(transport: MessageTransport, q: FrameQueue, n: number): void {
    const { meta, payloads, subroutes } = q;
    const counters = this.counters;
    counters.framesOut += n;
    const maxMerge = this.opts.maxMergeBytes;
    const maxFrames = this.fullFrames;
    // Without sendParts every frame is copied into a message.
    const parts = transport.sendParts !== undefined;
    let i = 0;
    while (i < n) {
      const large = payloads[i];
      if (parts && large !== undefined && large.byteLength >= ZERO_COPY_MIN_BYTES) {
        const m = i * STRIDE;
        counters.messagesOut++;
        counters.bytesOut += meta[m + 6]!;
        transport.sendParts!(
          encodeParts(meta[m]!, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, meta[m + 4]!, meta[m + 5]!, subroutes[i], large),
        );
        i++;
        continue;
      }
      // Take frames [i, j) into one message while they fit in maxMerge (a large payload
      // that goes in parts ends the run).
      let inner = meta[i * STRIDE + 6]!;
      let j = i + 1;
      while (
        j < n &&
        j - i < maxFrames &&
        inner + meta[j * STRIDE + 6]! <= maxMerge &&
        !(parts && (payloads[j]?.byteLength ?? 0) >= ZERO_COPY_MIN_BYTES)
      ) {
        inner += meta[j++ * STRIDE + 6]!;
      }
      const merged = j - i > 1;
      const total = merged ? HEADER_SIZE + inner : inner;
      let buf: Buffer;
      let view: DataView;
      let bytes: Uint8Array;
      if (total > POOLED_MAX) {
        buf = Buffer.allocUnsafeSlow(total);
        bytes = buf;
        view = new DataView(buf.buffer, buf.byteOffset, total);
      } else {
        buf = Buffer.allocUnsafe(total);
        if (this.poolView === undefined || this.poolView.buffer !== buf.buffer) {
          this.poolView = new DataView(buf.buffer);
          this.poolBytes = new Uint8Array(buf.buffer);
        }
        view = this.poolView;
        bytes = this.poolBytes!;
      }
      // Offsets are into `bytes`/`view`, which share one base (the whole pool, or `buf`).
      const start = bytes === buf ? 0 : buf.byteOffset;
      let off = start;
      if (merged) {
        // The Merged header: seq = frame count, length = bytes of the inner frames.
        view.setUint8(off, Op.Merged);
        view.setUint8(off + 1, 0);
        view.setUint16(off + 2, 0, true);
        view.setUint32(off + 4, 0, true);
        view.setUint32(off + 8, j - i, true);
        view.setUint32(off + 12, 0, true);
        view.setUint32(off + 16, inner, true);
        off += HEADER_SIZE;
      }
      for (let k = i; k < j; k++) {
        const m = k * STRIDE;
        off = encodeFieldsInto(
          bytes, view, off, meta[m]!, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, meta[m + 4]!, meta[m + 5]!,
          subroutes[k], payloads[k],
        );
      }
      counters.messagesOut++;
      counters.bytesOut += total;
      transport.send(buf);
      i = j;
    }
  }

  /** Check phase: flush what the burst gathered (staying in burst), or leave burst mode. */
  private readonly endOfTurn = (): void => {
    this.immediateArmed = false;
    if (this.queue.n > 0 && this.transport !== undefined) this.flush();
    else this.burst = false;
  };

  private readonly poll = (): void => {
    this.pollTimer = undefined;
    const waiters = this.waiters;
    while (this.waitersHead < waiters.length && this.backlog < this.opts.maxQueuedBytes) {
      const w = waiters[this.waitersHead]!;
      waiters[this.waitersHead++] = undefined as unknown as RoomWaiter;
      if (!w.waitingForRoom) continue;
      w.waitingForRoom = false;
      w.onRoom();
    }
    // Skip waiters that gave up, so a queue of cancelled calls does not look busy.
    while (this.waitersHead < waiters.length && !waiters[this.waitersHead]!.waitingForRoom) this.waitersHead++;
    if (this.waitersHead === waiters.length) {
      this.waiters = [];
      this.waitersHead = 0;
    } else {
      if (this.waitersHead > 1024 && this.waitersHead * 2 > waiters.length) {
        // Under steady pressure the queue never drains: drop the served prefix.
        this.waiters = waiters.slice(this.waitersHead);
        this.waitersHead = 0;
      }
      this.pollTimer = setTimeout(this.poll, this.opts.roomPollMs);
      this.pollTimer.unref();
    }
  };

  private startWatch(): void {
    const transport = this.transport;
    if (transport === undefined) return;
    this.watchBuffered = transport.bufferedAmount;
    this.watchBytesOut = this.counters.bytesOut;
    this.lastProgress = performance.now();
    const period = Math.max(1, Math.min(25, (this.opts.writeTimeoutMs ?? 100) / 4));
    this.watchTimer = setInterval(this.watch, period);
    this.watchTimer.unref();
    this.watch();
  }

  private stopWatch(): void {
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    if (this._readPaused) {
      this._readPaused = false;
      this.transport?.resume?.();
    }
  }

  /**
   * While the backlog is full: reading the peer pauses above twice the bound (so answers to
   * a peer that sends but does not read cannot pile up) and resumes below the bound; no byte
   * taken by the transport for `writeTimeoutMs` ends the link.
   */
  private readonly watch = (): void => {
    const transport = this.transport;
    if (transport === undefined) return this.stopWatch();
    const buffered = transport.bufferedAmount;
    const bytesOut = this.counters.bytesOut;
    const drained = this.watchBuffered + (bytesOut - this.watchBytesOut) - buffered;
    this.watchBuffered = buffered;
    this.watchBytesOut = bytesOut;
    const backlog = this.pendingBytes + buffered;
    const max = this.opts.maxQueuedBytes;
    // The watch starts when the backlog is full (at the bound, or someone waits for room:
    // producers stop just short of it) and ends once it is down to half the bound, so a
    // backlog hovering at the bound keeps one stall clock.
    if (backlog < max / 2 && this.waitersHead === this.waiters.length) return this.stopWatch();
    if (this._readPaused && backlog < max) {
      this._readPaused = false;
      transport.resume?.();
    }
    const now = performance.now();
    if (drained > 0) this.lastProgress = now;
    const timeout = this.opts.writeTimeoutMs;
    if (timeout !== undefined && now - this.lastProgress >= timeout) {
      const stalledMs = now - this.lastProgress;
      this.stopWatch();
      this.opts.onWriteTimeout?.(backlog, stalledMs);
      return;
    }
    if (!this._readPaused && backlog >= 2 * max && transport.pause !== undefined) {
      this._readPaused = true;
      transport.pause();
    }
  };

  private reset(): void {
    this.stopWatch();
    this.scheduled = false;
    this.turnWait = false;
    this.burst = false;
    this.streamQueued = false;
    this.flushedRecently = false;
    this.queue.clear();
    this.pendingBytes = 0;
    for (let i = this.waitersHead; i < this.waiters.length; i++) this.waiters[i]!.waitingForRoom = false;
    this.waiters = [];
    this.waitersHead = 0;
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }
}

/**
 * Calls this side started (the OUTGOING table): single requests here, streams in
 * outgoing-stream.ts. Their ids are allocated by this side; the peer's answers (Response,
 * AckMux, MuxConnectError, MuxServerMsg, UnblockClientMux, DisconnectServerMux) address them.
 *
 * A call object is its own deadline-wheel node, abort target (`onAbort`) and room
 * waiter, so a request costs this object, its frame, its payload and one promise.
 */
import { AbortError, DeadlineExceededError } from "../errors.js";
import type { GridError } from "../errors.js";
import type { Frame } from "../protocol/frame.js";
import type { Abortable } from "./abort-groups.js";
import type { Bucket, DeadlineEntry } from "./deadline-wheel.js";
import type { RoomWaiter } from "./frame-writer.js";
import type { Mux } from "./mux.js";

export const CallKind = { Request: 0, Stream: 1 } as const;

export class OutgoingRequest implements DeadlineEntry, RoomWaiter, Abortable {
  readonly kind = CallKind.Request;
  resolve!: (value: Uint8Array) => void;
  reject!: (reason: GridError) => void;
  /** The Request frame, kept only while waiting for room in the outgoing queue. */
  pendingFrame: Frame | undefined;
  pendingSubroute: Uint8Array | undefined;
  /** The Request frame went out (so cancelling must tell the server). */
  sent = false;
  signal: AbortSignal | undefined;
  startedAt = 0;
  bytesOut = 0;

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
  ) {}

  /** The caller's AbortSignal fired. */
  onAbort(reason: unknown): void {
    this.mux.cancelOutgoing(this, new AbortError("call cancelled by the caller", { cause: reason }));
  }

  onDeadline(): void {
    this.mux.cancelOutgoing(this, new DeadlineExceededError(`request to ${this.mux.names.label(this.handler)} exceeded its deadline`));
  }

  onRoom(): void {
    const frame = this.pendingFrame;
    if (frame === undefined) return;
    this.pendingFrame = undefined;
    this.mux.sendPendingRequest(this, frame, this.pendingSubroute);
  }
}

/**
 * Calls the peer started (the INCOMING table): single requests here, streams in
 * incoming-stream.ts. Their ids were allocated by the peer; the peer's frames Request,
 * ConnectMux, MuxClientMsg, UnblockServerMux and DisconnectClientMux address them.
 *
 * The call object is the handler's context. Its AbortSignal is created on first use, so a
 * handler that never looks at `ctx.signal` costs no AbortController.
 */
import type { GridError } from "../errors.js";
import { EMPTY_METADATA } from "../protocol/metadata.js";
import type { Metadata } from "../protocol/metadata.js";
import type { HandlerContext, SingleHandler } from "../types.js";
import type { Bucket, DeadlineEntry } from "./deadline-wheel.js";
import { CallKind } from "./outgoing-calls.js";
import type { Mux } from "./mux.js";

export class IncomingContext implements HandlerContext {
  private controller: AbortController | undefined;
  /** Why the call ended early, if it did (kept until someone asks for the signal). */
  abortReason: GridError | undefined;
  /** Absolute deadline, `performance.now()` ms; 0 = none. Also the deadline wheel's key. */
  deadlineAt = 0;
  /** The caller's metadata (the shared frozen empty object when it sent none). */
  metadata: Readonly<Metadata> = EMPTY_METADATA;
  /** For server interceptors: this side serves. */
  readonly side = "server";

  constructor(
    readonly caller: string,
    readonly subroute: string | undefined,
  ) {}

  /** The deadline in `Date.now()` terms, computed only when asked. */
  get deadline(): number | undefined {
    return this.deadlineAt > 0 ? Math.round(performance.timeOrigin + this.deadlineAt) : undefined;
  }

  /** For server interceptors: the calling server (as `caller`). */
  get peer(): string {
    return this.caller;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Aborts the handler's signal (once). */
  abort(reason: GridError): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

export class IncomingRequest extends IncomingContext implements DeadlineEntry {
  readonly kind = CallKind.Request;
  /** For server interceptors: a single request. */
  readonly stream = false;
  /** Set only when server interceptors run: the request bytes and the handler `invoke` calls. */
  payload: Uint8Array = EMPTY;
  fn: SingleHandler | undefined;
  /** Finished, cancelled, expired or disconnected: its answer must not be sent. */
  done = false;
  startedAt = 0;
  bytesIn = 0;

  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;

  constructor(
    readonly mux: Mux,
    readonly muxId: number,
    readonly handler: number,
    caller: string,
    subroute: string | undefined,
  ) {
    super(caller, subroute);
  }

  get handlerName(): string | undefined {
    return this.mux.names.get(this.handler);
  }

  /** Runs the handler (the end of the server interceptor chain). */
  invoke(): Uint8Array | Promise<Uint8Array> {
    return this.fn!(this.payload, this);
  }

  onDeadline(): void {
    this.mux.expireIncoming(this);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Calls the peer started (the INCOMING table): single requests here, streams in
 * incoming-stream.ts. Their ids were allocated by the peer; the peer's frames Request,
 * ConnectMux, MuxClientMsg, UnblockServerMux and DisconnectClientMux address them.
 *
 * The call object is the handler's context. Its AbortSignal is created on first use, so a
 * handler that never looks at `ctx.signal` costs no AbortController.
 */
import type { GridError } from "../errors.js";
import type { HandlerContext } from "../types.js";
import type { Bucket, DeadlineEntry } from "./deadline-wheel.js";
import { CallKind } from "./outgoing-calls.js";
import type { Mux } from "./mux.js";

export class IncomingContext implements HandlerContext {
  private controller: AbortController | undefined;
  /** Why the call ended early, if it did (kept until someone asks for the signal). */
  abortReason: GridError | undefined;
  /** Absolute deadline, `performance.now()` ms; 0 = none. Also the deadline wheel's key. */
  deadlineAt = 0;

  constructor(
    readonly caller: string,
    readonly subroute: string | undefined,
  ) {}

  /** The deadline in `Date.now()` terms, computed only when asked. */
  get deadline(): number | undefined {
    return this.deadlineAt > 0 ? Math.round(performance.timeOrigin + this.deadlineAt) : undefined;
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

  onDeadline(): void {
    this.mux.expireIncoming(this);
  }
}

/**
 * The lock service's server side: the generated `Locker` interface implemented over this
 * node's `LockTable`. Everything network-related (decoding, validation, flow control,
 * cancellation) is done by tsgrid and the generated code; this file is only the service.
 */
import type { HandlerContext } from "tsgrid";
import type {
  LockArgs,
  LockEvent,
  LockEventFilter,
  LockReply,
  LockerServer,
  RefreshRequest,
  RefreshResult,
} from "../../generated/locks.js";
import type { LockTable } from "./lock-table.js";
import type { Metrics } from "./metrics.js";

export interface LockServiceOptions {
  /**
   * Grant no lock before this time (ms since the epoch): a node restarted after a drain has
   * forgotten the locks it granted, so it waits until those have expired (their validity)
   * before granting again, and quorum mutual exclusion holds across a rolling restart.
   */
  grantNotBefore?: number;
  /** Aborted when the node drains: its lock-event subscriptions end cleanly (EOF). */
  draining?: AbortSignal;
  /** Events a slow `lockEvents` subscriber may fall behind before the oldest are dropped. Default 1024. */
  eventBuffer?: number;
  /** Counts what is served (the demo's summary). */
  metrics?: Metrics;
}

export class LockService implements LockerServer {
  constructor(
    private readonly table: LockTable,
    private readonly options: LockServiceOptions = {},
  ) {}

  lock(args: LockArgs): LockReply {
    this.options.metrics?.serve("lock");
    if (!valid(args)) return invalid;
    if (this.inGrace()) return this.conflict(args);
    return this.table.lock(args) ? granted : this.conflict(args);
  }

  private inGrace(): boolean {
    const notBefore = this.options.grantNotBefore;
    return notBefore !== undefined && Date.now() < notBefore;
  }

  unlock(args: LockArgs): LockReply {
    this.options.metrics?.serve("unlock");
    if (!valid(args)) return invalid;
    return this.table.unlock(args) ? granted : notFound;
  }

  rLock(args: LockArgs): LockReply {
    this.options.metrics?.serve("rLock");
    if (!valid(args)) return invalid;
    if (this.inGrace()) return this.conflict(args);
    return this.table.rLock(args) ? granted : this.conflict(args);
  }

  rUnlock(args: LockArgs): LockReply {
    this.options.metrics?.serve("rUnlock");
    if (!valid(args)) return invalid;
    return this.table.rUnlock(args) ? granted : notFound;
  }

  refresh(args: LockArgs): LockReply {
    this.options.metrics?.serve("refresh");
    if (!valid(args)) return invalid;
    return this.table.refresh(args) ? granted : notFound;
  }

  forceUnlock(args: LockArgs): LockReply {
    this.options.metrics?.serve("forceUnlock");
    if (args.resources.length === 0) return invalid;
    return this.table.forceUnlock(args) ? granted : notFound;
  }

  // #region lock-events
  /**
   * Follows this node's lock table. `yield` waits for the subscriber's credit (tsgrid's flow
   * control); meanwhile new events wait in the subscription's bounded buffer, and when a
   * subscriber is too slow the oldest are dropped, which it sees as a gap in `seq`.
   */
  async *lockEvents(filter: LockEventFilter, ctx: HandlerContext): AsyncIterable<LockEvent> {
    this.options.metrics?.serve("lockEvents");
    const kinds = filter.kinds && filter.kinds.length > 0 ? new Set(filter.kinds) : undefined;
    const prefix = filter.prefix;
    const subscription = this.table.subscribe({
      capacity: this.options.eventBuffer,
      signal: this.options.draining === undefined ? ctx.signal : AbortSignal.any([ctx.signal, this.options.draining]),
      filter: (e) => (prefix === undefined || e.resource.startsWith(prefix)) && (kinds === undefined || kinds.has(e.kind)),
    });
    try {
      yield* subscription;
    } finally {
      subscription.close();
    }
  }
  // #endregion lock-events

  // #region refresh-many
  /** Refreshes locks as they stream in: one result per request, in order. */
  async *refreshMany(input: AsyncIterable<RefreshRequest>): AsyncIterable<RefreshResult> {
    this.options.metrics?.serve("refreshMany");
    for await (const req of input) {
      if (req.uid.length === 0 || req.resources.length === 0) yield { uid: req.uid, ok: false, reason: "invalid" };
      else if (this.table.refresh(req)) yield { uid: req.uid, ok: true };
      else yield { uid: req.uid, ok: false, reason: "not_found" };
    }
  }
  // #endregion refresh-many

  private conflict(args: LockArgs): LockReply {
    for (const resource of args.resources) {
      const holder = this.table.holders(resource).find((h) => h.writer) ?? this.table.holders(resource)[0];
      if (holder) return { ok: false, reason: "conflict", holder: holder.uid };
    }
    return { ok: false, reason: "conflict", holder: null };
  }
}

const granted: LockReply = { ok: true };
const notFound: LockReply = { ok: false, reason: "not_found" };
const invalid: LockReply = { ok: false, reason: "invalid" };

function valid(args: LockArgs): boolean {
  return args.uid.length > 0 && args.resources.length > 0 && args.owner.length > 0;
}

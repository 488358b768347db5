/**
 * What both sides of the Manager share: the context they run in, the raw streams not closed
 * yet (so `close` can end them) and the handshakes in progress (each bounded by a timer).
 */
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { ClusterAuth } from "../auth/cluster-auth.js";
import { DisconnectedError, GridError } from "../errors.js";
import { wsTransport } from "../transport/ws-transport.js";
import type { Logger } from "../types.js";
import { HandshakeLink } from "./handshake-link.js";
import type { HandshakePolicy } from "./handshake.js";
import type { LogLimiter } from "./log-limiter.js";

/** What the accepting side, the dialling side and the peer table all read. */
export interface ClusterContext {
  /** This server's name. */
  readonly local: string;
  /** This Manager's instance id, sent at every handshake. */
  readonly instanceId: string;
  readonly logger: Logger;
  readonly auth: ClusterAuth | undefined;
  readonly policy: HandshakePolicy;
  /** Largest WebSocket message accepted, in bytes. */
  readonly maxPayload: number;
  /** Whether dialled links mask what they send with a random key (ManagerOptions.maskFrames). */
  readonly maskFrames: boolean;
  /** Bound of an incoming link's upgrade and handshake. */
  readonly handshakeTimeoutMs: number;
  /** Whether `close` was called. */
  readonly closed: boolean;
  /** For events a remote party can trigger at will (refusals): rate-limited. */
  readonly refusalLogger: LogLimiter;
}

/**
 * The stall rule, for every timer that judges a peer (dial, handshake, first message): a
 * timer may fire late, after the process stalled (a long synchronous job, a GC pause), with
 * the peer's answer already waiting in the socket. The verdict is therefore given one turn
 * of the event loop later (`setImmediate` runs after the poll phase has read pending I/O),
 * and `verdict` re-checks that the peer is still pending before judging it.
 */
export function afterPendingIo(verdict: () => void): () => void {
  return () => void setImmediate(verdict);
}

/** A raw stream the Manager must end on close. */
export interface TrackedStream {
  /** Carries (or carried) a WebSocket, so it may need a moment to close cleanly. */
  upgraded: boolean;
  /** Bounds the HTTP upgrade of a stream given to `incomingConn`. */
  upgradeTimer: NodeJS.Timeout | undefined;
}

export function asGridError(err: unknown): GridError {
  if (err instanceof GridError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DisconnectedError(message, { cause: err });
}

/** Raw streams and handshakes in progress, both directions. */
export class Links {
  /** Handshakes in progress (both directions), with their timers. */
  private readonly handshakes = new Map<HandshakeLink, NodeJS.Timeout | undefined>();
  /** Raw streams (accepted or dialled) not closed yet. */
  private readonly sockets = new Map<Duplex, TrackedStream>();
  /** Resolved when the last tracked stream closes during shutdown. */
  private allSocketsClosed: (() => void) | undefined;

  /**
   * `maxHeldBytes`: bytes a link may receive while its handshake is checked, held back for
   * the Connection: the dialler may get the listener's first calls before its own check of
   * the answer ends. A peer that sends more is dropped (it could otherwise fill memory until
   * the timeout).
   */
  constructor(
    private readonly ctx: ClusterContext,
    private readonly maxHeldBytes: number,
  ) {}

  /** Handshakes in progress, both directions. */
  get pendingHandshakes(): number {
    return this.handshakes.size;
  }

  /** The tracking entry of a raw stream, if it is tracked. */
  tracked(socket: Duplex): TrackedStream | undefined {
    return this.sockets.get(socket);
  }

  /** Remembers a raw stream until it closes, so `close` can end it. */
  track(socket: Duplex, upgraded: boolean, upgradeTimer: NodeJS.Timeout | undefined): void {
    if (this.sockets.has(socket)) return;
    this.sockets.set(socket, { upgraded, upgradeTimer });
    socket.on("error", () => {}); // errors end in 'close'; the link's owner reports them
    socket.once("close", () => {
      clearTimeout(this.sockets.get(socket)?.upgradeTimer);
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.allSocketsClosed?.();
    });
  }

  /**
   * Wraps a fresh WebSocket for its handshake, bounded by a timer. `strict` for the listening
   * side: nothing may follow the Connect before it is answered (see HandshakeLink).
   */
  open(ws: WebSocket, strict = false): HandshakeLink {
    const link = new HandshakeLink(wsTransport(ws), () => this.forget(link), strict ? 0 : this.maxHeldBytes, strict);
    this.handshakes.set(
      link,
      setTimeout(
        afterPendingIo(() => {
          if (!this.handshakes.has(link)) return; // settled by what was read meanwhile
          this.ctx.refusalLogger.warn("handshake timed out", { local: this.ctx.local, timeoutMs: this.ctx.handshakeTimeoutMs });
          link.terminate();
        }),
        this.ctx.handshakeTimeoutMs,
      ),
    );
    return link;
  }

  /** The handshake is over (attached, or the link closed): stop its timer. */
  forget(link: HandshakeLink): void {
    clearTimeout(this.handshakes.get(link));
    this.handshakes.delete(link);
  }

  drop(link: HandshakeLink): void {
    this.forget(link);
    link.terminate();
  }

  /** Drops every handshake in progress (shutdown). */
  dropHandshakes(): void {
    for (const link of [...this.handshakes.keys()]) this.drop(link);
  }

  /**
   * Shutdown: ends streams that never carried a link at once, gives the others up to
   * `closeTimeoutMs` to finish their closing handshake, then drops whatever is still open.
   */
  async closeSockets(closeTimeoutMs: number): Promise<void> {
    // Streams that never carried a link have nothing to finish.
    for (const [socket, tracked] of this.sockets) if (!tracked.upgraded) socket.destroy();
    // Connections closed gracefully (Disconnect frame, WebSocket close): give the peers a
    // moment to answer, then drop whatever is still open.
    if (this.sockets.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.allSocketsClosed = resolve;
        timer = setTimeout(resolve, closeTimeoutMs);
      });
      clearTimeout(timer);
      this.allSocketsClosed = undefined;
    }
    for (const socket of [...this.sockets.keys()]) socket.destroy();
  }
}

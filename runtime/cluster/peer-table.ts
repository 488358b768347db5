/**
 * The peer table: one entry per other server of the cluster, each with its one Connection
 * for the Manager's whole life. A successful handshake (either side) swaps the link the
 * Connection runs on; state changes are logged and passed on to the Manager's listeners.
 */
import { Connection, isPeerClose, type ConnectionState } from "../connection/connection.js";
import type { ConnectionOptions } from "../connection/options.js";
import type { HandlerRegistry } from "../handlers/handler-registry.js";
import type { HandshakeLink } from "./handshake-link.js";
import type { ClusterContext } from "./links.js";
import { shouldDial } from "./who-dials.js";

/** Called when the connection to `peer` changes state. */
export type PeerStateListener = (peer: string, state: ConnectionState, previous: ConnectionState, reason?: Error) => void;

/** What the Manager keeps per peer. */
export interface Peer {
  readonly name: string;
  readonly conn: Connection;
  /** Whether this side dials the peer (else it waits for the peer to dial). */
  readonly dials: boolean;
  /** The peer's instance id at the last handshake: a new one means it restarted. */
  instanceId: string | undefined;
  /** Failed dials in a row, for the backoff. */
  attempt: number;
  /** When the current link came up (to tell a stable link from a flapping one). */
  connectedAt: number;
  redialTimer: NodeJS.Timeout | undefined;
  dialing: AbortController | undefined;
  /** Message of the last dial failure, to log a repeated failure once, not every retry. */
  lastFailure: string | undefined;
}

export class PeerTable {
  private readonly byName = new Map<string, Peer>();
  private readonly stateListeners = new Set<PeerStateListener>();

  /** `onLinkLost` runs when a connected peer's link drops (before the state listeners). */
  constructor(
    private readonly ctx: ClusterContext,
    names: readonly string[],
    registry: HandlerRegistry,
    connectionOptions: ConnectionOptions,
    private readonly onLinkLost: (peer: Peer) => void,
  ) {
    const local = ctx.local;
    for (const name of names) {
      const conn = new Connection({ local, remote: name, handlers: registry, options: connectionOptions });
      const peer: Peer = {
        name,
        conn,
        dials: shouldDial(local, name),
        instanceId: undefined,
        attempt: 0,
        connectedAt: 0,
        redialTimer: undefined,
        dialing: undefined,
        lastFailure: undefined,
      };
      this.byName.set(name, peer);
      conn.onStateChange((state, previous, reason) => this.onPeerState(peer, state, previous, reason));
    }
  }

  get(name: string): Peer | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<Peer> {
    return this.byName.values();
  }

  /** Calls `listener` on every state change of any peer's connection; returns an unsubscribe. */
  onStateChange(listener: PeerStateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** The handshake succeeded: the link becomes the peer's connection (replacing any other). */
  attach(peer: Peer, link: HandshakeLink, remoteInstanceId: string): void {
    const previous = peer.instanceId;
    const replacing = peer.conn.state === "connected";
    const logger = this.ctx.logger;
    if (previous !== undefined && previous !== remoteInstanceId) {
      logger.info("peer restarted", { local: this.ctx.local, peer: peer.name });
    } else if (replacing) {
      logger.info("peer reconnected; replacing the previous link", { local: this.ctx.local, peer: peer.name });
    }
    peer.instanceId = remoteInstanceId;
    peer.lastFailure = undefined;
    // `attempt` is kept: it restarts from 0 only once this link proves stable (Dialler.linkLost).
    peer.connectedAt = Date.now();
    peer.conn.attach(link.handOver(), { remoteInstanceId });
  }

  private onPeerState(peer: Peer, state: ConnectionState, previous: ConnectionState, reason: Error | undefined): void {
    const logger = this.ctx.logger;
    if (state === "connected") {
      logger.info("connected", { local: this.ctx.local, peer: peer.name });
    } else if (state === "disconnected" && previous === "connected") {
      const fields = { local: this.ctx.local, peer: peer.name, reason: reason?.message };
      if (this.ctx.closed) logger.debug("connection closed", fields);
      else if (peer.conn.peerDraining) logger.info("peer drained, connection closed", fields);
      // The peer said goodbye (its Manager closed, or it drained): expected, not a warning.
      else if (isPeerClose(reason)) logger.info("connection closed by the peer", fields);
      else logger.warn("connection lost", fields);
      this.onLinkLost(peer);
    }
    for (const listener of this.stateListeners) {
      try {
        listener(peer.name, state, previous, reason);
      } catch (err) {
        logger.warn("state listener threw", { peer: peer.name, error: err });
      }
    }
  }
}

/**
 * The Manager: one per server. It knows this server's name and every peer's, keeps exactly
 * one long-lived Connection per peer, dials the peers it must dial (and redials them),
 * accepts the others, runs the handshake, and serves the handlers registered on it.
 *
 * It is a composition of one part per side:
 *   - PeerTable (peer-table.ts): the peers, their Connections and states, swapping links;
 *   - Acceptor (acceptor.ts): listener, upgrades, incoming handshake;
 *   - Dialler (dialler.ts): dial loop, backoff, outgoing handshake;
 *   - Links (links.ts): raw streams and handshakes in progress, shared by both sides.
 *
 * Layering: the Connection (runtime core) owns calls, pings and teardown of one link; the
 * Manager owns which link a Connection runs on. It reacts to a Connection dropping to
 * "disconnected" by redialling (dialling side only) and to a new accepted handshake by
 * swapping the link (a restarted or redialled peer).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { ClusterAuth } from "../auth/cluster-auth.js";
import type { Connection } from "../connection/connection.js";
import { MAX_TIMER_MS, resolveConnectionOptions, type ConnectionOptions } from "../connection/options.js";
import { MAX_METADATA_BYTES, METADATA_HEADER_BYTES } from "../protocol/metadata.js";
import { DisconnectedError } from "../errors.js";
import { HandlerRegistry } from "../handlers/handler-registry.js";
import { tcpDialer, type ConnDialer } from "../transport/dialer.js";
import type {
  HandlerID,
  HandlerRegistrar,
  Logger,
  SingleHandler,
  SingleHandlerOptions,
  StreamHandler,
  StreamHandlerOptions,
} from "../types.js";
import { Acceptor, type ListenOptions } from "./acceptor.js";
import { resolveBackoffOptions, type BackoffOptions } from "./backoff.js";
import { Dialler } from "./dialler.js";
import type { HandshakePolicy } from "./handshake.js";
import { Links, type ClusterContext } from "./links.js";
import { PeerTable, type PeerStateListener } from "./peer-table.js";

export type { ListenOptions } from "./acceptor.js";
export type { PeerStateListener } from "./peer-table.js";

export interface ManagerOptions extends Partial<ConnectionOptions> {
  /** This server's address (`ws://host:port/path` or `wss://...`), also its name in the cluster. */
  local: string;
  /** Every server of the cluster, by address; `local` may be listed or not. */
  hosts: readonly string[];
  /** Authenticates peers at the handshake, both ways. Default: none (see `sharedSecretAuth`). */
  auth?: ClusterAuth;
  /** Opens the byte stream to a peer. Default: `tcpDialer`. */
  dialer?: ConnDialer;
  /** Bound of one dial attempt: byte stream, WebSocket upgrade and handshake. Default 10 000 ms. */
  dialTimeoutMs?: number;
  /** Bound of an incoming link's upgrade and handshake. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Largest accepted difference between a peer's clock and ours. Default 300 000 ms (5 min). */
  maxClockSkewMs?: number;
  /** How long `close` lets links finish their closing handshake before dropping them. Default 2 000 ms. */
  closeTimeoutMs?: number;
  /**
   * Handshakes (both directions) in progress at once, at most; further incoming upgrades
   * are answered 503 so unauthenticated sockets cannot pile up. Default 256.
   */
  maxPendingHandshakes?: number;
  /** Delays between redials of a peer. Defaults: 100 ms doubling up to 10 s, 50% jitter. */
  reconnect?: Partial<BackoffOptions>;
  /** Identifies this Manager instance to its peers. Default: a random UUID. */
  instanceId?: string;
}

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 256;
/** WebSocket messages may exceed the largest payload by a frame header, subroute and CRC... */
const FRAME_OVERHEAD_BYTES = 4096;
/** ...and a call's first frame by its metadata section (docs/PROTOCOL.md, Metadata). */
const METADATA_OVERHEAD_BYTES = METADATA_HEADER_BYTES + MAX_METADATA_BYTES;
/** How long `drain()` lets calls in flight finish, by default. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export interface DrainOptions {
  /**
   * How long calls and streams in flight (both directions) may take to finish before the
   * links are closed anyway. Default 30 000 ms.
   */
  timeoutMs?: number;
}

function checkAddress(address: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RangeError(`${what} ${JSON.stringify(address)} is not a URL`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new RangeError(`${what} ${address} must be a ws:// or wss:// URL`);
  }
  return url;
}

function positive(name: string, value: number): number {
  if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`option ${name} must be a positive number, got ${value}`);
  return value;
}

/** A timeout that arms a timer: positive and within what a Node timer holds. */
function timeout(name: string, value: number): number {
  positive(name, value);
  if (value > MAX_TIMER_MS) throw new RangeError(`option ${name} must be at most ${MAX_TIMER_MS} ms, got ${value}`);
  return value;
}

export class Manager implements HandlerRegistrar {
  /** This server's name. */
  readonly local: string;
  /** Every other server of the cluster. */
  readonly peers: readonly string[];
  /** This Manager's instance id, sent at every handshake. */
  readonly instanceId: string;

  private readonly registry = new HandlerRegistry();
  // The options as resolved (defaults applied), kept for inspection; the parts below use them.
  private readonly auth: ClusterAuth | undefined;
  private readonly dialer: ConnDialer;
  private readonly policy: HandshakePolicy;
  private readonly backoff: BackoffOptions;
  private readonly dialTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxPendingHandshakes: number;
  private readonly links: Links;
  private readonly peerTable: PeerTable;
  private readonly acceptor: Acceptor;
  private readonly dialler: Dialler;
  private closed = false;
  private draining = false;
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;
  private drained: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    const {
      local,
      hosts,
      auth,
      dialer,
      dialTimeoutMs,
      handshakeTimeoutMs,
      maxClockSkewMs,
      closeTimeoutMs,
      maxPendingHandshakes,
      reconnect,
      instanceId,
      ...connectionPartial
    } = options;
    const localUrl = checkAddress(local, "local address");
    this.local = local;
    const all = new Set<string>();
    for (const host of hosts) {
      checkAddress(host, "host");
      all.add(host);
    }
    all.add(local);
    this.peers = [...all].filter((host) => host !== local);
    this.instanceId = instanceId ?? randomUUID();
    const connectionOptions = resolveConnectionOptions(connectionPartial);
    this.logger = connectionOptions.logger;
    this.auth = auth;
    this.dialer = dialer ?? tcpDialer;
    this.backoff = resolveBackoffOptions(reconnect);
    this.dialTimeoutMs = timeout("dialTimeoutMs", dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    this.handshakeTimeoutMs = timeout("handshakeTimeoutMs", handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.closeTimeoutMs = timeout("closeTimeoutMs", closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    this.maxPendingHandshakes = positive("maxPendingHandshakes", maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES);
    const policy: HandshakePolicy = (this.policy = {
      local,
      hosts: all,
      maxClockSkewMs: positive("maxClockSkewMs", maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS),
      auth,
      now: Date.now,
    });
    const maxPayload =
      Math.max(connectionOptions.maxMessageBytes, connectionOptions.maxMergeBytes) + FRAME_OVERHEAD_BYTES + METADATA_OVERHEAD_BYTES;
    const manager = this; // the context reads `closed` live
    const ctx: ClusterContext = {
      local,
      instanceId: this.instanceId,
      logger: connectionOptions.logger,
      auth,
      policy,
      maxPayload,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      // Draining counts as closed for links: no new ones accepted, none dialled.
      get closed() {
        return manager.closed || manager.draining;
      },
    };
    // At least one largest message, so a legitimate handshake message always fits.
    this.links = new Links(ctx, Math.max(connectionOptions.maxQueuedBytes, maxPayload));
    this.peerTable = new PeerTable(ctx, this.peers, this.registry, connectionOptions, (peer) => this.dialler.linkLost(peer));
    this.acceptor = new Acceptor(ctx, localUrl, this.links, this.peerTable, this.maxPendingHandshakes);
    this.dialler = new Dialler(ctx, this.links, this.peerTable, this.dialer, this.dialTimeoutMs, this.backoff);
    // Dial once the constructor's caller has had the chance to register its handlers.
    this.dialler.start();
  }

  // ---- handlers -------------------------------------------------------------------------

  /** Serves a single request handler to every peer. */
  registerSingle(id: HandlerID, handler: SingleHandler, opts?: SingleHandlerOptions): void {
    this.registry.registerSingle(id, handler, opts);
  }

  /** Serves a stream handler to every peer. */
  registerStream(id: HandlerID, handler: StreamHandler, opts?: StreamHandlerOptions): void {
    this.registry.registerStream(id, handler, opts);
  }

  // ---- connections ----------------------------------------------------------------------

  /** The one connection to `host`: the same object for the Manager's whole life. */
  connection(host: string): Connection {
    const peer = this.peerTable.get(host);
    if (peer === undefined) {
      throw new RangeError(host === this.local ? `${host} is this server itself` : `${host} is not in this Manager's hosts`);
    }
    return peer.conn;
  }

  /** Calls `listener` on every state change of any peer's connection; returns an unsubscribe. */
  onStateChange(listener: PeerStateListener): () => void {
    return this.peerTable.onStateChange(listener);
  }

  // ---- incoming links -------------------------------------------------------------------

  /**
   * Listens on an own http server for peers' upgrades at `local`'s path. Resolves with the
   * bound address. Other HTTP requests get 426.
   */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    return this.acceptor.listen(options);
  }

  /**
   * Takes a WebSocket upgrade from the user's own http server (its `upgrade` event). Only
   * `local`'s path is accepted; anything else is answered with 404.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.acceptor.handleUpgrade(req, socket, head);
  }

  /**
   * Serves a peer on a byte stream that arrived some other way (a Unix socket, a tunnel, an
   * in-memory pipe): the stream carries the WebSocket upgrade, then the protocol.
   * Aborting `signal` drops the stream.
   */
  incomingConn(conn: Duplex, signal?: AbortSignal): void {
    this.acceptor.incomingConn(conn, signal);
  }

  // ---- shutdown -------------------------------------------------------------------------

  /**
   * Takes this node out of the cluster gracefully (a rolling restart): tells every peer at
   * once (GoAway, docs/PROTOCOL.md), so they start no new call to it (those fail at once with
   * DrainingError: retry elsewhere) and neither does this node; refuses new links and stops
   * dialling; lets every call and stream already in flight, in both directions, finish; then
   * closes like `close()`, when all have finished or `timeoutMs` (default 30 s) has passed
   * (what is left then fails with DisconnectedError). Idempotent; `close()` during a drain
   * cuts it short.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    const timeoutMs = timeout("timeoutMs", options.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
    if (this.closing !== undefined) return this.closing;
    this.drained ??= this.drainThenClose(timeoutMs);
    return this.drained;
  }

  private async drainThenClose(timeoutMs: number): Promise<void> {
    this.draining = true;
    const logger = this.logger;
    const started = performance.now();
    logger.info("draining", { local: this.local, timeoutMs });
    const reason = new DisconnectedError(`${this.local} is draining`);
    const peers = [...this.peerTable.all()];
    for (const peer of peers) this.dialler.stop(peer, reason);
    const done = await Promise.all(peers.map((peer) => peer.conn.drain(timeoutMs)));
    const left = peers.reduce((n, peer) => n + peer.conn.stats.inFlight, 0);
    logger.info("drained", {
      local: this.local,
      ms: Math.round(performance.now() - started),
      timedOut: done.some((ok, i) => !ok && peers[i]!.conn.state === "connected"),
      callsCut: left,
    });
    await this.close();
  }

  /** Whether `drain()` was called (new calls fail with DrainingError). */
  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Stops dialling, fails every in-flight call with DisconnectedError, closes every link and
   * the own http server, and clears every timer. Idempotent: every call returns the same
   * promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const reason = new DisconnectedError(`${this.local} is shutting down`);
    for (const peer of this.peerTable.all()) {
      this.dialler.stop(peer, reason);
      peer.conn.close();
    }
    this.links.dropHandshakes();
    this.acceptor.stopUpgrades();
    await this.links.closeSockets(this.closeTimeoutMs);
    await this.acceptor.closeServer();
  }
}

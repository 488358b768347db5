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
import { setMaxListeners } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { ClusterAuth } from "../auth/cluster-auth.js";
import type { Connection, NotConnectedReason } from "../connection/connection.js";
import { period, positive, resolveConnectionOptions, type ConnectionOptions } from "../connection/options.js";
import { MAX_METADATA_BYTES, METADATA_HEADER_BYTES } from "../protocol/metadata.js";
import { AbortError, DisconnectedError } from "../errors.js";
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
import { canonicalAddress, canonicalUrl, tryCanonicalAddress } from "./address.js";
import { resolveBackoffOptions, type BackoffOptions } from "./backoff.js";
import { Dialler } from "./dialler.js";
import type { HandshakePolicy } from "./handshake.js";
import { afterPendingIo, Links, type ClusterContext } from "./links.js";
import { LogLimiter } from "./log-limiter.js";
import { PeerTable, type Peer, type PeerStateListener } from "./peer-table.js";

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
  /**
   * Whether the links this server dials mask what they send with a random key, as RFC 6455
   * requires of a WebSocket client. `false` sends an all-zero key instead: the bytes go out as
   * they are, a `ws` peer skips unmasking, and the client copies nothing (a random key makes
   * `ws` XOR every payload into a new buffer, byte by byte in JavaScript without the optional
   * `bufferutil`). Masking only guards proxies on the path that could mistake WebSocket bytes
   * for HTTP (browser-era cache poisoning): off is safe over wss://, or between servers with
   * no HTTP proxy between them. Default true. See docs/performance.md.
   */
  maskFrames?: boolean;
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
  /**
   * Incoming handshakes in progress at once from one remote address, at most; further
   * upgrades from it are answered 503, so one host cannot take every slot. Default 32.
   */
  maxPendingHandshakesPerAddress?: number;
  /**
   * Bytes a peer may send on a new incoming link (after the upgrade) before its Connect is
   * accepted; beyond that the socket is destroyed. A Connect is at most 16 KiB. Default 32 768.
   */
  maxPreAuthBytes?: number;
  /** From an incoming link's upgrade to its first message (the Connect). Default 3 000 ms. */
  firstMessageTimeoutMs?: number;
  /**
   * Window of the rate limit on refusal logs (refused upgrades and handshakes): the first of
   * each kind is logged, later ones are counted and summed up once per window. Default 10 000 ms.
   */
  refusalLogIntervalMs?: number;
  /**
   * Delays between redials of a peer. Defaults: 100 ms doubling up to 10 s, 50% jitter; from
   * 5 ms after a refused connection (nothing listens on the peer's port yet, as at start-up).
   */
  reconnect?: Partial<BackoffOptions>;
  /** Identifies this Manager instance to its peers. Default: a random UUID. */
  instanceId?: string;
}

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 256;
const DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS = 32;
const DEFAULT_MAX_PRE_AUTH_BYTES = 32 * 1024;
const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 3_000;
const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 10_000;
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
  private readonly maskFrames: boolean;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxPendingHandshakes: number;
  private readonly maxPendingHandshakesPerAddress: number;
  private readonly maxPreAuthBytes: number;
  private readonly firstMessageTimeoutMs: number;
  private readonly refusalLogIntervalMs: number;
  private readonly refusalLogger: LogLimiter;
  private readonly links: Links;
  private readonly peerTable: PeerTable;
  private readonly acceptor: Acceptor;
  private readonly dialler: Dialler;
  private closed = false;
  private draining = false;
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;
  private drained: Promise<void> | undefined;
  /** Fires once, `dialTimeoutMs` after construction: peers that should have dialled us and did not. */
  private readonly silenceTimer: NodeJS.Timeout;
  /** Peers already reported as unable to connect (this server accepts nothing). */
  private readonly warnedNotAccepting = new Set<string>();

  constructor(options: ManagerOptions) {
    const {
      local,
      hosts,
      auth,
      dialer,
      dialTimeoutMs,
      maskFrames,
      handshakeTimeoutMs,
      maxClockSkewMs,
      closeTimeoutMs,
      maxPendingHandshakes,
      maxPendingHandshakesPerAddress,
      maxPreAuthBytes,
      firstMessageTimeoutMs,
      refusalLogIntervalMs,
      reconnect,
      instanceId,
      ...connectionPartial
    } = options;
    // Addresses are names: two spellings of one address (trailing slash, default port, host
    // case) must be one name on every node, or the two sides disagree on who dials.
    const localUrl = canonicalUrl(local, "local address");
    this.local = canonicalAddress(local, "local address");
    const all = new Set<string>();
    for (const host of hosts) all.add(canonicalAddress(host, "host"));
    all.add(this.local);
    this.peers = [...all].filter((host) => host !== this.local);
    this.instanceId = instanceId ?? randomUUID();
    const connectionOptions = resolveConnectionOptions(connectionPartial);
    this.logger = connectionOptions.logger;
    this.auth = auth;
    this.dialer = dialer ?? tcpDialer;
    this.backoff = resolveBackoffOptions(reconnect);
    this.dialTimeoutMs = period("dialTimeoutMs", dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    this.maskFrames = maskFrames ?? true;
    this.handshakeTimeoutMs = period("handshakeTimeoutMs", handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.closeTimeoutMs = period("closeTimeoutMs", closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    this.maxPendingHandshakes = positive("maxPendingHandshakes", maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES);
    this.maxPendingHandshakesPerAddress = positive(
      "maxPendingHandshakesPerAddress",
      maxPendingHandshakesPerAddress ?? DEFAULT_MAX_PENDING_HANDSHAKES_PER_ADDRESS,
    );
    this.maxPreAuthBytes = positive("maxPreAuthBytes", maxPreAuthBytes ?? DEFAULT_MAX_PRE_AUTH_BYTES);
    this.firstMessageTimeoutMs = period("firstMessageTimeoutMs", firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS);
    this.refusalLogIntervalMs = period("refusalLogIntervalMs", refusalLogIntervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS);
    this.refusalLogger = new LogLimiter(connectionOptions.logger, this.refusalLogIntervalMs);
    const policy: HandshakePolicy = (this.policy = {
      local: this.local,
      hosts: all,
      maxClockSkewMs: positive("maxClockSkewMs", maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS),
      auth,
      now: Date.now,
    });
    const maxPayload =
      Math.max(connectionOptions.maxMessageBytes, connectionOptions.maxMergeBytes) + FRAME_OVERHEAD_BYTES + METADATA_OVERHEAD_BYTES;
    const manager = this; // the context reads `closed` live
    const ctx: ClusterContext = {
      local: this.local,
      instanceId: this.instanceId,
      logger: connectionOptions.logger,
      auth,
      policy,
      maxPayload,
      maskFrames: this.maskFrames,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      refusalLogger: this.refusalLogger,
      // Draining counts as closed for links: no new ones accepted, none dialled.
      get closed() {
        return manager.closed || manager.draining;
      },
    };
    // At least one largest message, so a legitimate handshake message always fits.
    this.links = new Links(ctx, Math.max(connectionOptions.maxQueuedBytes, maxPayload));
    this.peerTable = new PeerTable(ctx, this.peers, this.registry, connectionOptions, (peer) => this.dialler.linkLost(peer));
    this.acceptor = new Acceptor(ctx, localUrl, this.links, this.peerTable, {
      maxPendingHandshakes: this.maxPendingHandshakes,
      maxPendingHandshakesPerAddress: this.maxPendingHandshakesPerAddress,
      maxPreAuthBytes: this.maxPreAuthBytes,
      firstMessageTimeoutMs: this.firstMessageTimeoutMs,
      // A refused link gets as long to flush its answer as any link gets to close.
      refusalLingerMs: this.closeTimeoutMs,
    });
    this.dialler = new Dialler(ctx, this.links, this.peerTable, this.dialer, this.dialTimeoutMs, this.backoff);
    for (const peer of this.peerTable.all()) {
      peer.conn.setDiagnosis({ explain: (last) => this.explain(peer, last), onWait: () => this.onWait(peer) });
    }
    // Nothing can be seen of a peer that should dial us and never does (it is down, or lists
    // this server under another address, so it thinks we dial): say so once, after as long
    // as one dial may take, judged by the stall rule (a Connect read late is not silence).
    // Unref'd: it never keeps the process alive.
    this.silenceTimer = setTimeout(afterPendingIo(() => this.reportSilentPeers()), this.dialTimeoutMs);
    this.silenceTimer.unref();
    // Dial once the constructor's caller has had the chance to register its handlers.
    this.dialler.start();
  }

  /**
   * Resolves once every peer is connected. Aborting `signal` (say `AbortSignal.timeout(5000)`)
   * rejects with an AbortError naming each peer still down and why; the first one's last
   * failure is the `cause`. For one peer: `manager.connection(host).waitConnected()`.
   */
  async waitConnected(opts?: { signal?: AbortSignal }): Promise<void> {
    const signal = opts?.signal;
    const peers = [...this.peerTable.all()];
    // One listener on the caller's signal, not one per peer (Node warns about a possible
    // leak past 10 listeners, i.e. for every cluster of 12 servers or more).
    let inner: AbortController | undefined;
    const relay = (): void => inner?.abort(signal?.reason);
    if (signal !== undefined && !signal.aborted && peers.length > 1) {
      inner = new AbortController();
      setMaxListeners(peers.length, inner.signal);
      signal.addEventListener("abort", relay, { once: true });
    }
    const each = inner?.signal ?? signal;
    let results: PromiseSettledResult<void>[];
    try {
      results = await Promise.allSettled(peers.map((peer) => peer.conn.waitConnected({ signal: each })));
    } finally {
      signal?.removeEventListener("abort", relay);
    }
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ peer: peers[i]!, error: r.reason as unknown }] : []));
    if (failed.length === 0) return;
    if (this.closed) throw new DisconnectedError(`${this.local} is shutting down`);
    const down = failed.map(({ peer }) => ({ peer, why: peer.conn.whyNotConnected() })).filter(({ why }) => why.text !== "connected");
    if (down.length === 0) return; // connected meanwhile
    const timedOut = signal?.reason instanceof Error && signal.reason.name === "TimeoutError";
    const list = down.map(({ peer, why }) => `${peer.name}: ${why.text}`).join("; ");
    throw new AbortError(
      `gave up waiting for ${down.length} of ${peers.length} peers${timedOut ? " (timed out)" : ""}: ${list}`,
      { cause: down[0]!.why.cause ?? signal?.reason },
    );
  }

  /** Why the connection to `peer` is not up, when this Manager knows better than its last failure. */
  private explain(peer: Peer, lastFailure: Error | undefined): NotConnectedReason | undefined {
    if (peer.dials) return undefined;
    if (!this.acceptor.accepting && !this.closed) {
      return {
        text:
          `${peer.name} is the side that dials this pair of servers (fixed by the two addresses), ` +
          `but ${this.local} is not accepting connections: call listen() on its Manager ` +
          `(or pass upgrades to handleUpgrade(), streams to incomingConn())`,
        cause: lastFailure,
      };
    }
    if (lastFailure === undefined && peer.instanceId === undefined) {
      return {
        text:
          `${peer.name} is the side that dials this pair of servers and has not connected yet: ` +
          `is it running, and does it list this server as ${this.local} (spelled alike on every node)?`,
        cause: undefined,
      };
    }
    return undefined;
  }

  /** Someone waits for `peer`: if it can never connect (this server accepts nothing), say so now. */
  private onWait(peer: Peer): void {
    if (peer.dials || this.warnedNotAccepting.has(peer.name)) return;
    // Next turn of the event loop: a listen() called right after waitConnected() counts.
    // Ref'd on purpose: a script awaiting this wait gets the warning before Node exits.
    setTimeout(() => {
      if (this.closed || this.acceptor.accepting || peer.conn.state === "connected") return;
      if (this.warnedNotAccepting.has(peer.name)) return;
      this.warnedNotAccepting.add(peer.name);
      this.logger.warn("waiting for a peer that cannot connect", {
        local: this.local,
        peer: peer.name,
        reason: peer.conn.whyNotConnected().text,
      });
    }, 0);
  }

  private reportSilentPeers(): void {
    if (this.closed) return;
    for (const peer of this.peerTable.all()) {
      if (peer.dials || peer.instanceId !== undefined || peer.conn.state === "connected") continue;
      if (this.warnedNotAccepting.has(peer.name)) continue;
      this.logger.warn("no connection from a peer yet", {
        local: this.local,
        peer: peer.name,
        reason: peer.conn.whyNotConnected().text,
      });
    }
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

  /**
   * The one connection to `host`: the same object for the Manager's whole life. `host` may
   * be spelled as in `hosts` or in any equivalent way (trailing slash, default port, case).
   */
  connection(host: string): Connection {
    const name = tryCanonicalAddress(host);
    const peer = this.peerTable.get(name);
    if (peer === undefined) {
      throw new RangeError(name === this.local ? `${host} is this server itself` : `${host} is not in this Manager's hosts`);
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
    const timeoutMs = period("timeoutMs", options.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
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
    clearTimeout(this.silenceTimer);
    const reason = new DisconnectedError(`${this.local} is shutting down`);
    for (const peer of this.peerTable.all()) {
      this.dialler.stop(peer, reason);
      peer.conn.close();
    }
    this.links.dropHandshakes();
    this.acceptor.stopUpgrades();
    await this.links.closeSockets(this.closeTimeoutMs);
    await this.acceptor.closeServer();
    this.refusalLogger.flush();
  }
}

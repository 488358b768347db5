/**
 * The Manager: one per server. It knows this server's name and every peer's, keeps exactly
 * one long-lived Connection per peer, dials the peers it must dial (and redials them),
 * accepts the others, runs the handshake, and serves the handlers registered on it.
 *
 * Layering: the Connection (runtime core) owns calls, pings and teardown of one link; the
 * Manager owns which link a Connection runs on. It reacts to a Connection dropping to
 * "disconnected" by redialling (dialling side only) and to a new accepted handshake by
 * swapping the link (a restarted or redialled peer).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { ClusterAuth } from "../auth/cluster-auth.js";
import { Connection, type ConnectionState } from "../connection/connection.js";
import { MAX_TIMER_MS, resolveConnectionOptions, type ConnectionOptions } from "../connection/options.js";
import { DisconnectedError, ErrorCode, GridError, ProtocolError } from "../errors.js";
import { HandlerRegistry } from "../handlers/handler-registry.js";
import { abortable } from "../transport/abortable.js";
import { connectWS } from "../transport/connect-ws.js";
import { tcpDialer, type ConnDialer } from "../transport/dialer.js";
import { wsTransport } from "../transport/ws-transport.js";
import type {
  HandlerID,
  HandlerRegistrar,
  Logger,
  SingleHandler,
  SingleHandlerOptions,
  StreamHandler,
  StreamHandlerOptions,
} from "../types.js";
import { backoffDelay, resolveBackoffOptions, type BackoffOptions } from "./backoff.js";
import { HandshakeLink } from "./handshake-link.js";
import {
  PROTOCOL_VERSION,
  checkConnect,
  checkConnectResponse,
  decodeConnect,
  decodeConnectResponse,
  encodeConnect,
  encodeConnectResponse,
  type HandshakePolicy,
} from "./handshake.js";
import { shouldDial } from "./who-dials.js";

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

export interface ListenOptions {
  /** Port to listen on. Default: the port of `local`. */
  port?: number;
  /** Interface to bind. Default: the host of `local`. */
  host?: string;
  /** Certificate and key: required when `local` is a `wss://` address (serves HTTPS). */
  tls?: HttpsServerOptions;
}

/** Called when the connection to `peer` changes state. */
export type PeerStateListener = (peer: string, state: ConnectionState, previous: ConnectionState, reason?: Error) => void;

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 256;
/** WebSocket messages may exceed the largest payload by a frame header, subroute and CRC. */
const FRAME_OVERHEAD_BYTES = 4096;
/** WebSocket close code for a refused handshake (policy violation). */
const CLOSE_REFUSED = 1008;

/** A raw stream the Manager must end on close. */
interface TrackedStream {
  /** Carries (or carried) a WebSocket, so it may need a moment to close cleanly. */
  upgraded: boolean;
  /** Bounds the HTTP upgrade of a stream given to `incomingConn`. */
  upgradeTimer: NodeJS.Timeout | undefined;
}

/** What the Manager keeps per peer. */
interface Peer {
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

function asGridError(err: unknown): GridError {
  if (err instanceof GridError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DisconnectedError(message, { cause: err });
}

/** Ends a raw stream that never became a WebSocket with a minimal HTTP answer. */
function rejectUpgrade(socket: Duplex, status: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export class Manager implements HandlerRegistrar {
  /** This server's name. */
  readonly local: string;
  /** Every other server of the cluster. */
  readonly peers: readonly string[];
  /** This Manager's instance id, sent at every handshake. */
  readonly instanceId: string;

  private readonly registry = new HandlerRegistry();
  private readonly peerByName = new Map<string, Peer>();
  private readonly logger: Logger;
  private readonly dialer: ConnDialer;
  private readonly auth: ClusterAuth | undefined;
  private readonly policy: HandshakePolicy;
  private readonly backoff: BackoffOptions;
  private readonly dialTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxPendingHandshakes: number;
  /** Resolved when the last tracked stream closes during shutdown. */
  private allSocketsClosed: (() => void) | undefined;
  private readonly maxPayload: number;
  /**
   * Bytes a link may receive while its handshake is checked, held back for the Connection:
   * the dialler may get the listener's first calls before its own check of the answer ends.
   * A peer that sends more is dropped (it could otherwise fill memory until the timeout).
   */
  private readonly maxHeldBytes: number;
  private readonly localPath: string;
  private readonly localUrl: URL;
  private readonly wss: WebSocketServer;
  private readonly stateListeners = new Set<PeerStateListener>();
  /** Handshakes in progress (both directions), with their timers. */
  private readonly links = new Map<HandshakeLink, NodeJS.Timeout | undefined>();
  /** Raw streams (accepted or dialled) not closed yet. */
  private readonly sockets = new Map<Duplex, TrackedStream>();
  private server: Server | undefined;
  /** An http.Server that never listens: it parses upgrades of `incomingConn` streams. */
  private upgradeServer: Server | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

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
    this.localUrl = checkAddress(local, "local address");
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
    this.dialer = dialer ?? tcpDialer;
    this.auth = auth;
    this.backoff = resolveBackoffOptions(reconnect);
    this.dialTimeoutMs = timeout("dialTimeoutMs", dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    this.handshakeTimeoutMs = timeout("handshakeTimeoutMs", handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.closeTimeoutMs = timeout("closeTimeoutMs", closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    this.maxPendingHandshakes = positive("maxPendingHandshakes", maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES);
    this.policy = {
      local,
      hosts: all,
      maxClockSkewMs: positive("maxClockSkewMs", maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS),
      auth,
      now: Date.now,
    };
    this.maxPayload = Math.max(connectionOptions.maxMessageBytes, connectionOptions.maxMergeBytes) + FRAME_OVERHEAD_BYTES;
    // At least one largest message, so a legitimate handshake message always fits.
    this.maxHeldBytes = Math.max(connectionOptions.maxQueuedBytes, this.maxPayload);
    this.localPath = this.localUrl.pathname;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.maxPayload,
    });

    for (const name of this.peers) {
      const conn = new Connection({ local, remote: name, handlers: this.registry, options: connectionOptions });
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
      this.peerByName.set(name, peer);
      conn.onStateChange((state, previous, reason) => this.onPeerState(peer, state, previous, reason));
    }
    // Dial once the constructor's caller has had the chance to register its handlers.
    for (const peer of this.peerByName.values()) if (peer.dials) this.scheduleDial(peer, 0);
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
    const peer = this.peerByName.get(host);
    if (peer === undefined) {
      throw new RangeError(host === this.local ? `${host} is this server itself` : `${host} is not in this Manager's hosts`);
    }
    return peer.conn;
  }

  /** Calls `listener` on every state change of any peer's connection; returns an unsubscribe. */
  onStateChange(listener: PeerStateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  // ---- incoming links -------------------------------------------------------------------

  /**
   * Listens on an own http server for peers' upgrades at `local`'s path. Resolves with the
   * bound address. Other HTTP requests get 426.
   */
  async listen(options: ListenOptions = {}): Promise<AddressInfo> {
    if (this.closed) throw new DisconnectedError("manager is closed");
    if (this.server !== undefined) throw new Error("manager is already listening");
    const secure = this.localUrl.protocol === "wss:";
    if (secure && options.tls === undefined) {
      throw new RangeError(`${this.local} is a wss:// address: listen() needs the tls option (or use handleUpgrade)`);
    }
    // A connection that never completes its upgrade is bounded like a handshake (Node's
    // defaults would keep it for up to 90 s, beyond what maxPendingHandshakes can see).
    const bounds = {
      headersTimeout: this.handshakeTimeoutMs,
      requestTimeout: this.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(Math.max(Math.ceil(this.handshakeTimeoutMs / 4), 50), 30_000),
    };
    const server: Server = secure ? createHttpsServer({ ...options.tls, ...bounds }) : createServer(bounds);
    this.server = server;
    this.serveUpgrades(server);
    server.on("connection", (socket: Duplex) => this.track(socket, false, undefined));
    const defaultPort = secure ? 443 : 80;
    const port = options.port ?? (this.localUrl.port === "" ? defaultPort : Number(this.localUrl.port));
    const host = options.host ?? this.localUrl.hostname.replace(/^\[(.*)\]$/, "$1");
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = undefined; // e.g. EADDRINUSE: listen() may be tried again
      throw err;
    }
    server.on("error", (err) => this.logger.error("grid server error", { local: this.local, error: err }));
    return server.address() as AddressInfo;
  }

  /**
   * Takes a WebSocket upgrade from the user's own http server (its `upgrade` event). Only
   * `local`'s path is accepted; anything else is answered with 404.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tracked = this.sockets.get(socket);
    if (tracked !== undefined) {
      // Upgraded in time (incomingConn): the handshake timer of `accept` takes over.
      clearTimeout(tracked.upgradeTimer);
      tracked.upgradeTimer = undefined;
      tracked.upgraded = true;
    } else {
      this.track(socket, true, undefined);
    }
    if (this.closed) return rejectUpgrade(socket, "503 Service Unavailable");
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://x").pathname;
    } catch {
      return rejectUpgrade(socket, "400 Bad Request");
    }
    if (path !== this.localPath) return rejectUpgrade(socket, "404 Not Found");
    if (this.links.size >= this.maxPendingHandshakes) {
      this.logger.warn("too many handshakes in progress; refusing an upgrade", { local: this.local, limit: this.maxPendingHandshakes });
      return rejectUpgrade(socket, "503 Service Unavailable");
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.accept(ws));
  }

  /**
   * Serves a peer on a byte stream that arrived some other way (a Unix socket, a tunnel, an
   * in-memory pipe): the stream carries the WebSocket upgrade, then the protocol.
   * Aborting `signal` drops the stream.
   */
  incomingConn(conn: Duplex, signal?: AbortSignal): void {
    if (this.closed || signal?.aborted === true) {
      conn.destroy();
      return;
    }
    if (this.upgradeServer === undefined) {
      this.upgradeServer = createServer();
      this.serveUpgrades(this.upgradeServer);
    }
    const timer = setTimeout(() => conn.destroy(), this.handshakeTimeoutMs);
    this.track(conn, false, timer);
    if (signal !== undefined) {
      const onAbort = (): void => {
        conn.destroy();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      conn.once("close", () => signal.removeEventListener("abort", onAbort));
    }
    this.upgradeServer.emit("connection", conn);
  }

  private serveUpgrades(server: Server): void {
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    server.on("request", (_req, res) => {
      res.writeHead(426, { Connection: "close", "Content-Length": "0" }).end();
    });
    server.on("clientError", (_err, socket: Duplex) => socket.destroy());
  }

  /** Remembers a raw stream until it closes, so `close` can end it. */
  private track(socket: Duplex, upgraded: boolean, upgradeTimer: NodeJS.Timeout | undefined): void {
    if (this.sockets.has(socket)) return;
    this.sockets.set(socket, { upgraded, upgradeTimer });
    socket.on("error", () => {}); // errors end in 'close'; the link's owner reports them
    socket.once("close", () => {
      clearTimeout(this.sockets.get(socket)?.upgradeTimer);
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.allSocketsClosed?.();
    });
  }

  /** A peer's WebSocket was accepted: run the listening side of the handshake. */
  private async accept(ws: WebSocket): Promise<void> {
    const link = this.openLink(ws);
    let from = "an unidentified peer";
    try {
      const req = decodeConnect(await link.next());
      from = req.from;
      const peer = this.peerByName.get(req.from);
      // Auth hooks may be slow or never answer: the link's close (its handshake timer, the
      // peer giving up) ends the wait, so a late answer never attaches a dead link over the
      // healthy one made meanwhile.
      const linkClosed = (): unknown => link.signal.reason;
      let refusal = await abortable(checkConnect(req, this.policy), link.signal, linkClosed);
      if (refusal === undefined && peer?.dials === true) {
        refusal = new ProtocolError(`${this.local} dials ${req.from}, not the other way round`);
      }
      if (refusal === undefined && this.closed) refusal = new DisconnectedError(`${this.local} is shutting down`);
      const token =
        refusal === undefined && this.auth !== undefined
          ? await abortable(this.auth.token(req.from, this.local), link.signal, linkClosed)
          : "";
      if (refusal !== undefined || peer === undefined) {
        this.refuse(link, from, refusal ?? new ProtocolError("unknown peer"));
        return;
      }
      if (this.closed) throw new DisconnectedError(`${this.local} is shutting down`);
      link.send(
        encodeConnectResponse({
          accepted: true,
          version: PROTOCOL_VERSION,
          from: this.local,
          instanceId: this.instanceId,
          time: Date.now(),
          token,
        }),
      );
      this.attach(peer, link, req.instanceId);
    } catch (err) {
      const error = asGridError(err);
      if (error.code === ErrorCode.Protocol) this.refuse(link, from, error);
      else {
        this.logger.debug("incoming handshake failed", { local: this.local, peer: from, error });
        this.dropLink(link);
      }
    }
  }

  /** Tells the peer why it is refused, logs it, and closes the link once that is sent. */
  private refuse(link: HandshakeLink, peer: string, reason: GridError): void {
    const fields = { local: this.local, peer, reason: reason.message };
    if (reason.code === ErrorCode.Unauthenticated || reason.code === ErrorCode.Protocol) {
      this.logger.error("refused a connection", fields);
    } else {
      this.logger.info("refused a connection", fields);
    }
    link.send(
      encodeConnectResponse({
        accepted: false,
        version: PROTOCOL_VERSION,
        from: this.local,
        instanceId: this.instanceId,
        time: Date.now(),
        code: reason.code,
        reason: reason.rawMessage,
      }),
    );
    // Graceful close so the answer is flushed first; the handshake timer still bounds it.
    link.transport.close(CLOSE_REFUSED, "handshake refused");
  }

  // ---- outgoing links -------------------------------------------------------------------

  private scheduleDial(peer: Peer, delayMs: number): void {
    if (this.closed || peer.redialTimer !== undefined || peer.dialing !== undefined) return;
    peer.redialTimer = setTimeout(() => {
      peer.redialTimer = undefined;
      void this.dial(peer);
    }, delayMs);
  }

  private scheduleRedial(peer: Peer): void {
    this.scheduleDial(peer, backoffDelay(peer.attempt++, this.backoff));
  }

  /** One dial attempt: byte stream, upgrade, handshake, attach. Never throws. */
  private async dial(peer: Peer): Promise<void> {
    const state = peer.conn.state;
    if (this.closed || peer.dialing !== undefined || state === "connected" || state === "closed") return;
    const controller = new AbortController();
    peer.dialing = controller;
    const timeout = setTimeout(
      () => controller.abort(new DisconnectedError(`dial timed out after ${this.dialTimeoutMs} ms`)),
      this.dialTimeoutMs,
    );
    const signal = controller.signal;
    let link: HandshakeLink | undefined;
    peer.conn.setConnecting();
    try {
      const ws = await connectWS(peer.name, { dialer: this.trackedDialer, signal, maxPayload: this.maxPayload });
      link = this.openLink(ws);
      const dropOnAbort = link.terminate.bind(link);
      signal.addEventListener("abort", dropOnAbort, { once: true });
      try {
        // Auth hooks are user code that may never answer: the dial timeout bounds them too,
        // and so does the link closing meanwhile (the peer left, or broke the handshake).
        const ended = AbortSignal.any([signal, link.signal]);
        const timedOut = (): unknown => ended.reason;
        const token = this.auth === undefined ? "" : await abortable(this.auth.token(peer.name, this.local), ended, timedOut);
        link.send(
          encodeConnect({
            version: PROTOCOL_VERSION,
            from: this.local,
            to: peer.name,
            instanceId: this.instanceId,
            time: Date.now(),
            token,
          }),
        );
        const res = decodeConnectResponse(await link.next());
        const refusal = await abortable(checkConnectResponse(res, peer.name, this.policy), ended, timedOut);
        if (refusal !== undefined) throw refusal;
        signal.throwIfAborted();
        if (this.closed) throw new DisconnectedError(`${this.local} is shutting down`);
        // Not dialling any more before attaching: a link that drops at once must redial.
        clearTimeout(timeout);
        peer.dialing = undefined;
        this.attach(peer, link, res.instanceId);
      } finally {
        signal.removeEventListener("abort", dropOnAbort);
      }
    } catch (err) {
      if (link !== undefined) this.dropLink(link);
      const error = signal.aborted && signal.reason instanceof GridError ? signal.reason : asGridError(err);
      clearTimeout(timeout);
      peer.dialing = undefined;
      if (!this.closed) this.dialFailed(peer, error);
    }
  }

  private dialFailed(peer: Peer, error: GridError): void {
    const refused = error.code === ErrorCode.Unauthenticated || error.code === ErrorCode.Protocol;
    const fields = { local: this.local, peer: peer.name, attempt: peer.attempt + 1, error: error.message };
    // The same failure again (numbers aside: skews, timeouts) is logged at debug only.
    const failure = error.message.replace(/\d+/g, "#");
    if (peer.lastFailure === failure) this.logger.debug(refused ? "handshake refused" : "cannot connect", fields);
    else if (refused) this.logger.error("handshake refused", fields);
    else this.logger.warn("cannot connect", fields);
    peer.lastFailure = failure;
    // Back to "disconnected" with the reason, so state listeners see why.
    peer.conn.detach(error);
    this.scheduleRedial(peer);
  }

  /** The dialer, with every stream it opens tracked so `close` can end it. */
  private readonly trackedDialer: ConnDialer = async (address, signal) => {
    const stream = await this.dialer(address, signal);
    if (this.closed) stream.destroy();
    else this.track(stream, true, undefined);
    return stream;
  };

  // ---- both directions ------------------------------------------------------------------

  /** Wraps a fresh WebSocket for its handshake, bounded by a timer. */
  private openLink(ws: WebSocket): HandshakeLink {
    const link = new HandshakeLink(wsTransport(ws), () => this.forgetLink(link), this.maxHeldBytes);
    this.links.set(
      link,
      setTimeout(() => {
        this.logger.warn("handshake timed out", { local: this.local, timeoutMs: this.handshakeTimeoutMs });
        link.terminate();
      }, this.handshakeTimeoutMs),
    );
    return link;
  }

  private forgetLink(link: HandshakeLink): void {
    clearTimeout(this.links.get(link));
    this.links.delete(link);
  }

  private dropLink(link: HandshakeLink): void {
    this.forgetLink(link);
    link.terminate();
  }

  /** The handshake succeeded: the link becomes the peer's connection. */
  private attach(peer: Peer, link: HandshakeLink, remoteInstanceId: string): void {
    this.forgetLink(link);
    const previous = peer.instanceId;
    const replacing = peer.conn.state === "connected";
    if (previous !== undefined && previous !== remoteInstanceId) {
      this.logger.info("peer restarted", { local: this.local, peer: peer.name });
    } else if (replacing) {
      this.logger.info("peer reconnected; replacing the previous link", { local: this.local, peer: peer.name });
    }
    peer.instanceId = remoteInstanceId;
    peer.lastFailure = undefined;
    // `attempt` is kept: it restarts from 0 only once this link proves stable (onPeerState).
    peer.connectedAt = Date.now();
    peer.conn.attach(link.handOver(), { remoteInstanceId });
  }

  private onPeerState(peer: Peer, state: ConnectionState, previous: ConnectionState, reason: Error | undefined): void {
    if (state === "connected") {
      this.logger.info("connected", { local: this.local, peer: peer.name });
    } else if (state === "disconnected" && previous === "connected") {
      const fields = { local: this.local, peer: peer.name, reason: reason?.message };
      if (this.closed) this.logger.debug("connection closed", fields);
      else this.logger.warn("connection lost", fields);
      if (peer.dials && !this.closed) {
        // A link that stayed up longer than the longest backoff was healthy: start over.
        if (Date.now() - peer.connectedAt > this.backoff.maxDelayMs) peer.attempt = 0;
        this.scheduleRedial(peer);
      }
    }
    for (const listener of this.stateListeners) {
      try {
        listener(peer.name, state, previous, reason);
      } catch (err) {
        this.logger.warn("state listener threw", { peer: peer.name, error: err });
      }
    }
  }

  // ---- shutdown -------------------------------------------------------------------------

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
    for (const peer of this.peerByName.values()) {
      clearTimeout(peer.redialTimer);
      peer.redialTimer = undefined;
      peer.dialing?.abort(reason);
      peer.conn.close();
    }
    for (const link of [...this.links.keys()]) this.dropLink(link);
    this.wss.close();
    // Streams that never carried a link have nothing to finish.
    for (const [socket, tracked] of this.sockets) if (!tracked.upgraded) socket.destroy();
    // Connections closed gracefully (Disconnect frame, WebSocket close): give the peers a
    // moment to answer, then drop whatever is still open.
    if (this.sockets.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.allSocketsClosed = resolve;
        timer = setTimeout(resolve, this.closeTimeoutMs);
      });
      clearTimeout(timer);
      this.allSocketsClosed = undefined;
    }
    for (const socket of [...this.sockets.keys()]) socket.destroy();
    const server = this.server;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }
}

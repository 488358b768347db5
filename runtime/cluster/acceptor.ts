/**
 * The accepting side: the own http server (`listen`), upgrades from the user's server
 * (`handleUpgrade`) or from any byte stream (`incomingConn`), and the listening side of the
 * handshake.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { WebSocketServer, type WebSocket } from "ws";
import { DisconnectedError, ErrorCode, GridError, ProtocolError } from "../errors.js";
import { abortable } from "../transport/abortable.js";
import type { HandshakeLink } from "./handshake-link.js";
import {
  PROTOCOL_VERSION,
  checkConnect,
  decodeConnect,
  encodeConnectResponse,
} from "./handshake.js";
import { canonicalPath, tryCanonicalAddress } from "./address.js";
import { asGridError, type ClusterContext, type Links } from "./links.js";
import type { PeerTable } from "./peer-table.js";

export interface ListenOptions {
  /** Port to listen on. Default: the port of `local`. */
  port?: number;
  /** Interface to bind. Default: the host of `local`. */
  host?: string;
  /** Certificate and key: required when `local` is a `wss://` address (serves HTTPS). */
  tls?: HttpsServerOptions;
}

/** Distinct wrong upgrade paths logged, at most (a scanner must not grow the set). */
const MAX_LOGGED_PATHS = 16;

/** WebSocket close code for a refused handshake (policy violation). */
const CLOSE_REFUSED = 1008;

/** `address:port` of a socket's other end, for logs. */
function remoteOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  if (socket.remoteAddress === undefined) return "unknown";
  const host = socket.remoteAddress.includes(":") ? `[${socket.remoteAddress}]` : socket.remoteAddress;
  return `${host}:${socket.remotePort ?? "?"}`;
}

/** "…:SSL routines:fn:peer did not return a certificate:file:line:" → the readable part. */
function opensslReason(message: string): string {
  return /:SSL routines:[^:]*:([^:]+):/.exec(message)?.[1] ?? message.trim();
}

/** Who the client certificate of a TLS socket says it is (subject CN and alt names), if any. */
function certificateOf(socket: TLSSocket): string | undefined {
  try {
    const cert = socket.getPeerCertificate();
    if (cert === null || typeof cert !== "object" || Object.keys(cert).length === 0) return undefined;
    const cn = cert.subject?.CN;
    const alt = cert.subjectaltname;
    return [cn === undefined ? undefined : `CN=${Array.isArray(cn) ? cn.join(",") : cn}`, alt].filter((x) => x !== undefined && x !== "").join("; ") || undefined;
  } catch {
    return undefined;
  }
}

/** Ends a raw stream that never became a WebSocket with a minimal HTTP answer. */
function rejectUpgrade(socket: Duplex, status: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export class Acceptor {
  private readonly wss: WebSocketServer;
  private readonly localPath: string;
  private server: Server | undefined;
  /** handleUpgrade or incomingConn was used: links arrive through the user's own server. */
  private external = false;
  /** Paths of refused upgrades already logged (bounded), to log each once. */
  private readonly wrongPaths = new Set<string>();
  /** An http.Server that never listens: it parses upgrades of `incomingConn` streams. */
  private upgradeServer: Server | undefined;

  constructor(
    private readonly ctx: ClusterContext,
    private readonly localUrl: URL,
    private readonly links: Links,
    private readonly peers: PeerTable,
    private readonly maxPendingHandshakes: number,
  ) {
    this.localPath = canonicalPath(localUrl.pathname);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: ctx.maxPayload,
    });
  }

  /** Whether peers can reach this server: listen() was called, or upgrades are passed in. */
  get accepting(): boolean {
    return this.server !== undefined || this.external;
  }

  async listen(options: ListenOptions): Promise<AddressInfo> {
    const { ctx } = this;
    if (ctx.closed) throw new DisconnectedError("manager is closed");
    if (this.server !== undefined) throw new Error("manager is already listening");
    const secure = this.localUrl.protocol === "wss:";
    if (secure && options.tls === undefined) {
      throw new RangeError(`${ctx.local} is a wss:// address: listen() needs the tls option (or use handleUpgrade)`);
    }
    // A connection that never completes its upgrade is bounded like a handshake (Node's
    // defaults would keep it for up to 90 s, beyond what maxPendingHandshakes can see).
    const bounds = {
      headersTimeout: ctx.handshakeTimeoutMs,
      requestTimeout: ctx.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(Math.max(Math.ceil(ctx.handshakeTimeoutMs / 4), 50), 30_000),
    };
    const server: Server = secure ? createHttpsServer({ ...options.tls, ...bounds }) : createServer(bounds);
    this.server = server;
    this.serveUpgrades(server);
    if (secure) this.watchTls(server);
    server.on("connection", (socket: Duplex) => this.links.track(socket, false, undefined));
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
    server.on("error", (err) => ctx.logger.error("grid server error", { local: ctx.local, error: err }));
    return server.address() as AddressInfo;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.server === undefined) this.external = true;
    const tracked = this.links.tracked(socket);
    if (tracked !== undefined) {
      // Upgraded in time (incomingConn): the handshake timer of `accept` takes over.
      clearTimeout(tracked.upgradeTimer);
      tracked.upgradeTimer = undefined;
      tracked.upgraded = true;
    } else {
      this.links.track(socket, true, undefined);
    }
    if (this.ctx.closed) return rejectUpgrade(socket, "503 Service Unavailable");
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://x").pathname;
    } catch {
      return rejectUpgrade(socket, "400 Bad Request");
    }
    if (canonicalPath(path) !== this.localPath) {
      // A peer configured with another path for this server would retry forever: say it here
      // too (once per path), not only in the peer's "cannot connect".
      if (!this.wrongPaths.has(path) && this.wrongPaths.size < MAX_LOGGED_PATHS) {
        this.wrongPaths.add(path);
        this.ctx.logger.warn("refused an upgrade for another path", { local: this.ctx.local, path, expected: this.localPath });
      }
      return rejectUpgrade(socket, "404 Not Found");
    }
    if (this.links.pendingHandshakes >= this.maxPendingHandshakes) {
      this.ctx.logger.warn("too many handshakes in progress; refusing an upgrade", {
        local: this.ctx.local,
        limit: this.maxPendingHandshakes,
      });
      return rejectUpgrade(socket, "503 Service Unavailable");
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.accept(ws));
  }

  incomingConn(conn: Duplex, signal?: AbortSignal): void {
    this.external = true;
    if (this.ctx.closed || signal?.aborted === true) {
      conn.destroy();
      return;
    }
    if (this.upgradeServer === undefined) {
      this.upgradeServer = createServer();
      this.serveUpgrades(this.upgradeServer);
    }
    const timer = setTimeout(() => conn.destroy(), this.ctx.handshakeTimeoutMs);
    this.links.track(conn, false, timer);
    if (signal !== undefined) {
      const onAbort = (): void => {
        conn.destroy();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      conn.once("close", () => signal.removeEventListener("abort", onAbort));
    }
    this.upgradeServer.emit("connection", conn);
  }

  /** Shutdown, first step: no more WebSocket upgrades. */
  stopUpgrades(): void {
    this.wss.close();
  }

  /** Shutdown, last step: the own http server (if any) is closed. */
  async closeServer(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /**
   * A TLS refusal is otherwise silent on the listening side: a client certificate from
   * another CA, an expired one, none at all. Logged (warn) with the reason, the remote
   * address and the certificate's names when it showed one. A peer that refuses this
   * server's certificate after the handshake (TLS 1.3 checks the host name then) just
   * closes: a TLS connection that closes before its upgrade is logged too.
   */
  private watchTls(server: Server): void {
    const { ctx } = this;
    const upgraded = new WeakSet<object>();
    // Read at accept time: once a TLS socket failed, neither it nor the TCP socket under it
    // knows its remote address any more.
    const remotes = new WeakMap<object, string>();
    server.prependListener("connection", (raw: Socket) => remotes.set(raw, remoteOf(raw)));
    server.prependListener("upgrade", (req: IncomingMessage) => upgraded.add(req.socket));
    server.prependListener("request", (req: IncomingMessage) => upgraded.add(req.socket));
    server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      // Node checks the client certificate after OpenSSL's handshake and destroys the socket
      // when it fails: the error is then a bare "socket hang up", the reason is in
      // `authorizationError`, and the address only on the raw socket underneath.
      const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
      const refusedCert = socket.authorizationError as unknown;
      const certRefused = refusedCert !== undefined && refusedCert !== null && refusedCert !== "";
      ctx.logger.warn("TLS handshake with a peer failed", {
        local: ctx.local,
        remote: (raw === undefined ? undefined : remotes.get(raw)) ?? remoteOf(socket),
        reason:
          certRefused
            ? `its client certificate was refused: ${String(refusedCert)}`
            : err.code === "ECONNRESET"
              ? "the peer closed the connection during the TLS handshake (it may have refused this server's certificate: its CA, or a host name the certificate does not cover)"
              : opensslReason(err.message),
        code: certRefused ? String(refusedCert) : err.code,
      });
    });
    server.on("secureConnection", (socket: TLSSocket) => {
      const remote = remoteOf(socket);
      const certificate = certificateOf(socket);
      socket.once("close", () => {
        if (upgraded.has(socket) || ctx.closed) return;
        ctx.logger.warn("TLS connection closed before its WebSocket upgrade", {
          local: ctx.local,
          remote,
          certificate,
          reason: "the peer may have refused this server's certificate (its CA, or a host name the certificate does not cover)",
        });
      });
    });
  }

  private serveUpgrades(server: Server): void {
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    server.on("request", (_req, res) => {
      res.writeHead(426, { Connection: "close", "Content-Length": "0" }).end();
    });
    server.on("clientError", (_err, socket: Duplex) => socket.destroy());
  }

  /** A peer's WebSocket was accepted: run the listening side of the handshake. */
  private async accept(ws: WebSocket): Promise<void> {
    const { ctx } = this;
    const link = this.links.open(ws);
    let from = "an unidentified peer";
    try {
      const req = decodeConnect(await link.next());
      // Names as this side spells them: a peer running an older version may not canonicalise.
      req.from = tryCanonicalAddress(req.from);
      req.to = tryCanonicalAddress(req.to);
      from = req.from;
      const peer = this.peers.get(req.from);
      // Auth hooks may be slow or never answer: the link's close (its handshake timer, the
      // peer giving up) ends the wait, so a late answer never attaches a dead link over the
      // healthy one made meanwhile.
      const linkClosed = (): unknown => link.signal.reason;
      let refusal = await abortable(checkConnect(req, ctx.policy), link.signal, linkClosed);
      if (refusal === undefined && peer?.dials === true) {
        refusal = new ProtocolError(`${ctx.local} dials ${req.from}, not the other way round`);
      }
      if (refusal === undefined && ctx.closed) refusal = new DisconnectedError(`${ctx.local} is shutting down`);
      const token =
        refusal === undefined && ctx.auth !== undefined
          ? await abortable(ctx.auth.token(req.from, ctx.local), link.signal, linkClosed)
          : "";
      if (refusal !== undefined || peer === undefined) {
        this.refuse(link, from, refusal ?? new ProtocolError("unknown peer"));
        return;
      }
      if (ctx.closed) throw new DisconnectedError(`${ctx.local} is shutting down`);
      link.send(
        encodeConnectResponse({
          accepted: true,
          version: PROTOCOL_VERSION,
          from: ctx.local,
          instanceId: ctx.instanceId,
          time: Date.now(),
          token,
        }),
      );
      this.links.forget(link);
      this.peers.attach(peer, link, req.instanceId);
    } catch (err) {
      const error = asGridError(err);
      if (error.code === ErrorCode.Protocol) this.refuse(link, from, error);
      else {
        ctx.logger.debug("incoming handshake failed", { local: ctx.local, peer: from, error });
        this.links.drop(link);
      }
    }
  }

  /** Tells the peer why it is refused, logs it, and closes the link once that is sent. */
  private refuse(link: HandshakeLink, peer: string, reason: GridError): void {
    const { ctx } = this;
    // So that this side's waitConnected and calls to the peer say why it is not connected.
    if (reason.code !== ErrorCode.Disconnected) {
      this.peers.get(peer)?.conn.noteFailure(GridError.fromWire(reason.code, `refused the connection of ${peer}: ${reason.rawMessage}`));
    }
    const fields = { local: ctx.local, peer, reason: reason.message };
    if (reason.code === ErrorCode.Unauthenticated || reason.code === ErrorCode.Protocol) {
      ctx.logger.error("refused a connection", fields);
    } else {
      ctx.logger.info("refused a connection", fields);
    }
    link.send(
      encodeConnectResponse({
        accepted: false,
        version: PROTOCOL_VERSION,
        from: ctx.local,
        instanceId: ctx.instanceId,
        time: Date.now(),
        code: reason.code,
        reason: reason.rawMessage,
      }),
    );
    // Graceful close so the answer is flushed first; the handshake timer still bounds it.
    link.transport.close(CLOSE_REFUSED, "handshake refused");
  }
}

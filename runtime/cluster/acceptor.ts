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
  CHALLENGE_HEADER,
  PROTOCOL_VERSION,
  checkConnect,
  newChallenge,
  decodeConnect,
  encodeConnectResponse,
} from "./handshake.js";
import { canonicalPath, tryCanonicalAddress } from "./address.js";
import { afterPendingIo, asGridError, type ClusterContext, type Links } from "./links.js";
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
/** What bounds the links a peer can make this side hold before they are authenticated. */
export interface AcceptLimits {
  /** Handshakes in progress at once, both directions. */
  maxPendingHandshakes: number;
  /** Handshakes in progress at once from one remote address (accepting side). */
  maxPendingHandshakesPerAddress: number;
  /** Bytes a peer may send on a new link before its Connect is accepted. */
  maxPreAuthBytes: number;
  /** From the upgrade to the first WebSocket message (the Connect). */
  firstMessageTimeoutMs: number;
  /** How long a refused link may take to flush its answer before it is dropped. */
  refusalLingerMs: number;
}

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
  /** The challenge issued for each upgrade in progress (read when ws writes the 101 answer). */
  private readonly challenges = new WeakMap<IncomingMessage, string>();

  /** Handshakes in progress per remote address (accepting side only). */
  private readonly pendingByAddress = new Map<string, number>();

  constructor(
    private readonly ctx: ClusterContext,
    private readonly localUrl: URL,
    private readonly links: Links,
    private readonly peers: PeerTable,
    private readonly limits: AcceptLimits,
  ) {
    this.localPath = canonicalPath(localUrl.pathname);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: ctx.maxPayload,
    });
    this.wss.on("headers", (headers: string[], req: IncomingMessage) => {
      const challenge = this.challenges.get(req);
      if (challenge !== undefined) headers.push(`${CHALLENGE_HEADER}: ${challenge}`);
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
    const { limits } = this;
    const address = (socket as Partial<Socket>).remoteAddress;
    if (this.links.pendingHandshakes >= limits.maxPendingHandshakes) {
      this.ctx.refusalLogger.warn("too many handshakes in progress; refusing an upgrade", {
        local: this.ctx.local,
        address,
        limit: limits.maxPendingHandshakes,
      });
      return rejectUpgrade(socket, "503 Service Unavailable");
    }
    const fromAddress = address === undefined ? 0 : (this.pendingByAddress.get(address) ?? 0);
    if (address !== undefined && fromAddress >= limits.maxPendingHandshakesPerAddress) {
      this.ctx.refusalLogger.warn("too many handshakes in progress from one address; refusing an upgrade", {
        local: this.ctx.local,
        address,
        limit: limits.maxPendingHandshakesPerAddress,
      });
      return rejectUpgrade(socket, "503 Service Unavailable");
    }
    // This upgrade holds a slot of its address until it is authenticated or closed.
    let slotHeld = address !== undefined;
    if (address !== undefined) this.pendingByAddress.set(address, fromAddress + 1);
    const releaseSlot = (): void => {
      if (!slotHeld || address === undefined) return;
      slotHeld = false;
      const left = (this.pendingByAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.pendingByAddress.delete(address);
      else this.pendingByAddress.set(address, left);
    };
    socket.once("close", releaseSlot);
    // The challenge the dialler must sign rides in the 101 answer (see the 'headers' hook).
    const challenge = newChallenge();
    this.challenges.set(req, challenge);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // Counted from here (ws reads the socket from now on): a peer that sends more than
      // the budget before its Connect is accepted is dropped; nothing of it is kept.
      let preAuthBytes = 0;
      const count = (chunk: Buffer): void => {
        preAuthBytes += chunk.byteLength;
        if (preAuthBytes <= limits.maxPreAuthBytes) return;
        socket.off("data", count);
        this.ctx.refusalLogger.warn("too many bytes before the handshake was accepted; dropping the link", {
          local: this.ctx.local,
          address,
          limit: limits.maxPreAuthBytes,
        });
        socket.destroy();
      };
      socket.on("data", count);
      const authenticated = (): void => {
        socket.off("data", count);
        releaseSlot();
      };
      void this.accept(ws, challenge, address, authenticated);
    });
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
    const timer = setTimeout(
      afterPendingIo(() => {
        // Not upgraded, even with what was read meanwhile (see the stall rule).
        if (this.links.tracked(conn)?.upgraded === false) conn.destroy();
      }),
      this.ctx.handshakeTimeoutMs,
    );
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
  /**
   * A peer's WebSocket was accepted: run the listening side of the handshake. `challenge` is
   * the one sent in the 101 answer; `authenticated` is called right before the link is
   * attached (the pre-auth bounds stop applying).
   */
  private async accept(ws: WebSocket, challenge: string, address: string | undefined, authenticated: () => void): Promise<void> {
    const { ctx, limits } = this;
    const link = this.links.open(ws, true);
    let from = "an unidentified peer";
    let firstMessage = false;
    const firstMessageTimer = setTimeout(
      afterPendingIo(() => {
        if (firstMessage || link.signal.aborted) return; // it came, with what was read meanwhile
        ctx.refusalLogger.warn("no handshake message in time; dropping the link", {
          local: ctx.local,
          address,
          timeoutMs: limits.firstMessageTimeoutMs,
        });
        this.links.drop(link);
      }),
      limits.firstMessageTimeoutMs,
    );
    try {
      const first = await link.next();
      firstMessage = true;
      clearTimeout(firstMessageTimer);
      const req = decodeConnect(first);
      // Names as this side spells them: a peer running an older version may not canonicalise.
      req.from = tryCanonicalAddress(req.from);
      req.to = tryCanonicalAddress(req.to);
      from = req.from;
      const peer = this.peers.get(req.from);
      // Auth hooks may be slow or never answer: the link's close (its handshake timer, the
      // peer giving up) ends the wait, so a late answer never attaches a dead link over the
      // healthy one made meanwhile.
      const linkClosed = (): unknown => link.signal.reason;
      let refusal = await abortable(checkConnect(req, ctx.policy, challenge), link.signal, linkClosed);
      if (refusal === undefined && peer?.dials === true) {
        refusal = new ProtocolError(`${ctx.local} dials ${req.from}, not the other way round`);
      }
      if (refusal === undefined && ctx.closed) refusal = new DisconnectedError(`${ctx.local} is shutting down`);
      const token =
        refusal === undefined && ctx.auth !== undefined
          ? await abortable(ctx.auth.token(req.from, ctx.local, req.challenge), link.signal, linkClosed)
          : "";
      // Anything the peer sent behind its Connect, before this answer, refuses it (a
      // refusal of the Connect itself is the more telling reason).
      if (refusal === undefined && link.violation !== undefined) refusal = link.violation;
      if (refusal !== undefined || peer === undefined) {
        this.refuse(link, from, refusal ?? new ProtocolError("unknown peer"));
        return;
      }
      if (ctx.closed) throw new DisconnectedError(`${ctx.local} is shutting down`);
      authenticated();
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
    } finally {
      clearTimeout(firstMessageTimer);
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
    // Rate-limited: anyone who can reach the port can make this happen at will.
    if (reason.code === ErrorCode.Unauthenticated || reason.code === ErrorCode.Protocol) {
      ctx.refusalLogger.error("refused a connection", fields, reason.message);
    } else {
      ctx.refusalLogger.info("refused a connection", fields, reason.message);
    }
    link.refuse(
      encodeConnectResponse({
        accepted: false,
        version: PROTOCOL_VERSION,
        from: ctx.local,
        instanceId: ctx.instanceId,
        time: Date.now(),
        code: reason.code,
        reason: reason.rawMessage,
      }),
      // The answer and a close are flushed, then the socket is destroyed: nothing more is read.
      CLOSE_REFUSED,
      this.limits.refusalLingerMs,
    );
  }
}

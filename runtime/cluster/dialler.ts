/**
 * The dialling side: for every peer this server must dial, one attempt at a time (byte
 * stream, WebSocket upgrade, outgoing handshake), redialled with backoff after a failure or
 * after the link drops.
 */
import type { IncomingMessage } from "node:http";
import { DisconnectedError, ErrorCode, GridError, ProtocolError } from "../errors.js";
import { abortable } from "../transport/abortable.js";
import { connectWS } from "../transport/connect-ws.js";
import type { ConnDialer } from "../transport/dialer.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { HandshakeLink } from "./handshake-link.js";
import {
  CHALLENGE_HEADER,
  MAX_CHALLENGE_CHARS,
  PROTOCOL_VERSION,
  checkConnectResponse,
  newChallenge,
  decodeConnectResponse,
  encodeConnect,
} from "./handshake.js";
import { tryCanonicalAddress } from "./address.js";
import { afterPendingIo, asGridError, type ClusterContext, type Links } from "./links.js";
import type { Peer, PeerTable } from "./peer-table.js";

/** The `code` of the first error in a cause chain that has one (ECONNRESET, ...). */
function causeCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && !(e instanceof GridError)) return code;
  }
  return undefined;
}

export class Dialler {
  constructor(
    private readonly ctx: ClusterContext,
    private readonly links: Links,
    private readonly peers: PeerTable,
    private readonly dialer: ConnDialer,
    private readonly dialTimeoutMs: number,
    private readonly backoff: BackoffOptions,
  ) {}

  /** Dials every peer this side must dial (each in its own timer tick). */
  start(): void {
    for (const peer of this.peers.all()) if (peer.dials) this.scheduleDial(peer, 0);
  }

  /** A connected peer's link dropped: redial it if this side dials it. */
  linkLost(peer: Peer): void {
    if (!peer.dials || this.ctx.closed) return;
    // A link that stayed up longer than the longest backoff was healthy: start over.
    // So did one the peer closed after a drain (it is restarting): redial from the first delay.
    if (Date.now() - peer.connectedAt > this.backoff.maxDelayMs || peer.conn.peerDraining) peer.attempt = 0;
    this.scheduleRedial(peer);
  }

  /** Shutdown: no more dials, the ones in progress aborted with `reason`. */
  stop(peer: Peer, reason: GridError): void {
    clearTimeout(peer.redialTimer);
    peer.redialTimer = undefined;
    peer.dialing?.abort(reason);
  }

  private scheduleDial(peer: Peer, delayMs: number): void {
    if (this.ctx.closed || peer.redialTimer !== undefined || peer.dialing !== undefined) return;
    peer.redialTimer = setTimeout(() => {
      peer.redialTimer = undefined;
      void this.dial(peer);
    }, delayMs);
  }

  /** `refused`: the last dial's connection was refused (nothing listens yet): the short schedule. */
  private scheduleRedial(peer: Peer, refused = false): void {
    this.scheduleDial(peer, backoffDelay(peer.attempt++, this.backoff, Math.random, refused));
  }

  /** One dial attempt: byte stream, upgrade, handshake, attach. Never throws. */
  private async dial(peer: Peer): Promise<void> {
    const { ctx } = this;
    const state = peer.conn.state;
    if (ctx.closed || peer.dialing !== undefined || state === "connected" || state === "closed") return;
    const controller = new AbortController();
    peer.dialing = controller;
    const timeout = setTimeout(
      afterPendingIo(() => {
        // Still this attempt, and still not attached by what was read meanwhile.
        if (peer.dialing === controller) controller.abort(new DisconnectedError(`dial timed out after ${this.dialTimeoutMs} ms`));
      }),
      this.dialTimeoutMs,
    );
    const signal = controller.signal;
    let link: HandshakeLink | undefined;
    peer.conn.setConnecting();
    try {
      // The listener's challenge for this link comes in its upgrade answer.
      let theirChallenge: string | undefined;
      const onUpgrade = (res: IncomingMessage): void => {
        const header = res.headers[CHALLENGE_HEADER];
        if (typeof header === "string" && header.length > 0 && header.length <= MAX_CHALLENGE_CHARS) theirChallenge = header;
      };
      const ws = await connectWS(peer.name, {
        dialer: this.trackedDialer,
        signal,
        maxPayload: ctx.maxPayload,
        maskFrames: ctx.maskFrames,
        onUpgrade,
      });
      link = this.links.open(ws);
      const dropOnAbort = link.terminate.bind(link);
      signal.addEventListener("abort", dropOnAbort, { once: true });
      try {
        // Auth hooks are user code that may never answer: the dial timeout bounds them too,
        // and so does the link closing meanwhile (the peer left, or broke the handshake).
        const ended = AbortSignal.any([signal, link.signal]);
        const timedOut = (): unknown => ended.reason;
        let token = "";
        if (ctx.auth !== undefined) {
          if (theirChallenge === undefined) {
            throw new ProtocolError(
              `${peer.name} sent no auth challenge (header ${CHALLENGE_HEADER} of its upgrade answer): an older tsgrid, or a proxy that drops it`,
            );
          }
          token = await abortable(ctx.auth.token(peer.name, ctx.local, theirChallenge), ended, timedOut);
        }
        const ourChallenge = newChallenge();
        link.send(
          encodeConnect({
            version: PROTOCOL_VERSION,
            from: ctx.local,
            to: peer.name,
            instanceId: ctx.instanceId,
            time: Date.now(),
            token,
            challenge: ourChallenge,
          }),
        );
        const res = decodeConnectResponse(await link.next());
        res.from = tryCanonicalAddress(res.from);
        const refusal = await abortable(checkConnectResponse(res, peer.name, ctx.policy, ourChallenge), ended, timedOut);
        if (refusal !== undefined) throw refusal;
        signal.throwIfAborted();
        if (ctx.closed) throw new DisconnectedError(`${ctx.local} is shutting down`);
        // Not dialling any more before attaching: a link that drops at once must redial.
        clearTimeout(timeout);
        peer.dialing = undefined;
        this.links.forget(link);
        this.peers.attach(peer, link, res.instanceId);
      } finally {
        signal.removeEventListener("abort", dropOnAbort);
      }
    } catch (err) {
      if (link !== undefined) this.links.drop(link);
      const error = signal.aborted && signal.reason instanceof GridError ? signal.reason : asGridError(err);
      clearTimeout(timeout);
      peer.dialing = undefined;
      if (!ctx.closed) this.dialFailed(peer, error);
    }
  }

  private dialFailed(peer: Peer, error: GridError): void {
    const logger = this.ctx.logger;
    const refused = error.code === ErrorCode.Unauthenticated || error.code === ErrorCode.Protocol;
    const fields: Record<string, unknown> = { local: this.ctx.local, peer: peer.name, attempt: peer.attempt + 1, error: error.message };
    // A TLS listener that refuses this server's client certificate closes without a word
    // ("socket hang up"); its own log has the reason.
    if (peer.name.startsWith("wss://") && causeCode(error) === "ECONNRESET") {
      fields["hint"] = "the peer closed the TLS connection before answering: it may have refused this server's certificate (see its log)";
    }
    // The same failure again (numbers aside: skews, timeouts) is logged at debug only.
    const failure = error.message.replace(/\d+/g, "#");
    if (peer.lastFailure === failure) logger.debug(refused ? "handshake refused" : "cannot connect", fields);
    else if (refused) logger.error("handshake refused", fields);
    else logger.warn("cannot connect", fields);
    peer.lastFailure = failure;
    // Back to "disconnected" with the reason, so state listeners see why.
    peer.conn.detach(error);
    // Refused at once by the peer's host: nothing listens yet (it is starting): retry soon.
    this.scheduleRedial(peer, causeCode(error) === "ECONNREFUSED");
  }

  /** The dialer, with every stream it opens tracked so `close` can end it. */
  private readonly trackedDialer: ConnDialer = async (address, signal) => {
    const stream = await this.dialer(address, signal);
    if (this.ctx.closed) stream.destroy();
    else this.links.track(stream, true, undefined);
    return stream;
  };
}

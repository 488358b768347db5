/**
 * The "evil peer": a raw `ws` client that speaks the wire protocol of docs/PROTOCOL.md by
 * hand. It does a valid handshake with the runtime's own encoders and auth (so it keeps
 * working when the handshake changes: `handshake` below is the one place to update), then
 * sends whatever frames a test wants, however abusive, and records what comes back.
 */
import { randomUUID } from "node:crypto";
import { WebSocket } from "ws";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import {
  CHALLENGE_HEADER,
  PROTOCOL_VERSION,
  decodeConnectResponse,
  encodeConnect,
  type ConnectResponse,
} from "../../runtime/cluster/handshake.js";
import { decodeErrorPayload } from "../../runtime/protocol/error-payload.js";
import { Flag, HEADER_SIZE, Op, decodeMessage, emptyFrame, encodeFrame, type Frame } from "../../runtime/protocol/frame.js";
import type { GridError } from "../../runtime/errors.js";

export { Flag, Op };

/** A frame to send: `op` and whatever fields differ from zero. */
export type FrameSpec = Partial<Frame> & Pick<Frame, "op">;

export function frameOf(spec: FrameSpec): Frame {
  return { ...emptyFrame(), ...spec };
}

export function encode(spec: FrameSpec): Uint8Array {
  return encodeFrame(frameOf(spec));
}

/** One WebSocket message holding `frames` as a Merged frame (`muxId` and `seq` overridable, for abuse). */
export function encodeMerged(frames: readonly Uint8Array[], header: { muxId?: number; seq?: number } = {}): Uint8Array {
  let inner = 0;
  for (const f of frames) inner += f.byteLength;
  const buf = new Uint8Array(HEADER_SIZE + inner);
  const view = new DataView(buf.buffer);
  view.setUint8(0, Op.Merged);
  view.setUint32(4, header.muxId ?? 0, true);
  view.setUint32(8, header.seq ?? frames.length, true);
  view.setUint32(16, inner, true);
  let off = HEADER_SIZE;
  for (const f of frames) {
    buf.set(f, off);
    off += f.byteLength;
  }
  return buf;
}

/** The 8-byte payload of an AckMux. */
export function ackPayload(inCapacity: number, outCapacity: number): Uint8Array {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, inCapacity, true);
  v.setUint32(4, outCapacity, true);
  return p;
}

/** A frame as received, with its payload copied (cut to 1 KiB) and any error payload decoded. */
export interface Received {
  op: Op;
  flags: number;
  muxId: number;
  seq: number;
  payload: Uint8Array | undefined;
  error: GridError | undefined;
}

export interface EvilPeerOptions {
  /** The target's address. */
  url: string;
  /** The name this peer claims (must be in the target's hosts). */
  from: string;
  secret: string;
  /** Answer connection pings (default true: look alive). */
  autoPong?: boolean;
  /** Frames kept in `frames` at most (older ones are dropped; `counts` keeps counting). */
  keepFrames?: number;
}

/**
 * The dialler's side of the handshake, with the runtime's own encoders and auth. Resolves
 * with the target's answer once it accepted; rejects with the refusal or a malformed answer.
 */
export async function handshake(ws: WebSocket, from: string, to: string, secret: string, challenge: string): Promise<ConnectResponse> {
  const auth = sharedSecretAuth(secret);
  const answer = new Promise<Uint8Array>((resolve, reject) => {
    ws.once("message", (data: Buffer) => resolve(new Uint8Array(data)));
    ws.once("close", (code) => reject(new Error(`closed (${code}) during the handshake`)));
  });
  ws.send(
    encodeConnect({
      version: PROTOCOL_VERSION,
      from,
      to,
      instanceId: randomUUID(),
      time: Date.now(),
      token: await auth.token(to, from, challenge),
      challenge: "evil-peer-challenge",
    }),
  );
  const res = decodeConnectResponse(await answer);
  if (!res.accepted) throw new Error(`handshake refused: ${res.code}: ${res.reason}`);
  return res;
}

export class EvilPeer {
  /** Recent frames received (see keepFrames). */
  readonly frames: Received[] = [];
  /** Frames received per op, since the start. */
  readonly counts = new Map<number, number>();
  bytesIn = 0;
  /** Set once the socket closed: its close code and reason. */
  closed: { code: number; reason: string } | undefined;
  readonly closedPromise: Promise<{ code: number; reason: string }>;
  private readonly keep: number;

  private constructor(
    readonly ws: WebSocket,
    private readonly opts: EvilPeerOptions,
  ) {
    this.keep = opts.keepFrames ?? 5000;
    this.closedPromise = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      });
    });
    ws.on("error", () => {});
  }

  /** Connects to `url` and completes a valid handshake as `from`. */
  static async connect(opts: EvilPeerOptions): Promise<EvilPeer> {
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    ws.binaryType = "nodebuffer";
    ws.on("error", () => {});
    // The target's challenge (to sign in Connect) comes in its HTTP 101 answer.
    let challenge = "";
    ws.once("upgrade", (res) => (challenge = String(res.headers[CHALLENGE_HEADER] ?? "")));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    await handshake(ws, opts.from, opts.url, opts.secret, challenge);
    const peer = new EvilPeer(ws, opts);
    ws.on("message", (data: Buffer, isBinary: boolean) => peer.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), isBinary));
    return peer;
  }

  private onMessage(data: Uint8Array, isBinary: boolean): void {
    this.bytesIn += data.byteLength;
    if (!isBinary) return;
    try {
      decodeMessage(data, { maxPayloadBytes: 1 << 30 }, emptyFrame(), (f) => {
        this.counts.set(f.op, (this.counts.get(f.op) ?? 0) + 1);
        if (f.op === Op.Ping && f.muxId === 0 && this.opts.autoPong !== false) this.send({ op: Op.Pong, payload: f.payload?.slice() });
        let error: GridError | undefined;
        if ((f.flags & Flag.PayloadIsError) !== 0) {
          try {
            error = decodeErrorPayload(f.payload);
          } catch {
            error = undefined;
          }
        }
        // Drop the older half at once when full (a shift per frame is quadratic under a flood).
        if (this.frames.length >= this.keep) this.frames.splice(0, this.keep >>> 1);
        this.frames.push({ op: f.op, flags: f.flags, muxId: f.muxId, seq: f.seq, payload: f.payload?.slice(0, 1024), error });
      });
    } catch {
      // A malformed message from the target would be a bug the test sees as missing frames.
    }
  }

  count(op: Op): number {
    return this.counts.get(op) ?? 0;
  }

  /** Sends one frame, or raw bytes. Never throws (the socket may be gone: that is the test's point). */
  send(spec: FrameSpec | Uint8Array, opts?: { binary?: boolean }): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const bytes = spec instanceof Uint8Array ? spec : encode(spec);
    this.ws.send(bytes, { binary: opts?.binary ?? true, compress: false });
  }

  /** Resolves once every byte sent so far was handed to the kernel. */
  async drained(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.ws.bufferedAmount > 0 && Date.now() < until && this.ws.readyState === WebSocket.OPEN) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops reading the socket (the target's writes back up into its own memory). */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Resolves with the first received frame matching `pred` (already received ones count). */
  async waitFor(pred: (f: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(pred);
      if (found !== undefined) return found;
      if (Date.now() > until) throw new Error(`no matching frame from the target within ${timeoutMs} ms`);
      if (this.closed !== undefined) throw new Error(`socket closed (${this.closed.code}) before a matching frame`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Resolves once the target closed the socket (or rejects after `timeoutMs`). */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closedPromise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`target did not close the link within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * The handshake: the first frame each side sends on a new link, before any call.
 *
 * Connect (dialling side → listening side) and ConnectResponse (the answer) are ordinary
 * frames (see protocol/frame.ts) whose payload is a msgpack array:
 *
 *   Connect:         [version, from, to, instanceId, timeMs, token, challenge]
 *   ConnectResponse: [version, from, instanceId, timeMs, token, errorCode, reason]
 *                    errorCode is "" when accepted; else the refusal's ErrorCode and reason.
 *
 * Challenge-response (see auth/cluster-auth.ts): the listener's challenge travels in the
 * HTTP 101 upgrade answer (header CHALLENGE_HEADER), the Connect's token signs it; the
 * Connect carries the dialler's challenge, which the answer's token signs.
 *
 * An array (not a map) keeps the codec strict: every field is type-checked on decode,
 * because the bytes come from a process we have not authenticated yet. This module also
 * holds the receiver's checks, so they are testable without a socket.
 */
import { randomBytes } from "node:crypto";
import { Packr } from "msgpackr";
import type { ClusterAuth } from "../auth/cluster-auth.js";
import { ErrorCode, GridError, ProtocolError, UnauthenticatedError } from "../errors.js";
import { Op, decodeMessage, emptyFrame, encodeFrame, opName, type Frame } from "../protocol/frame.js";

/** Version of the wire protocol; peers with another version are refused. 2: challenge-response auth. */
export const PROTOCOL_VERSION = 2;

/** Header of the HTTP 101 upgrade answer carrying the listener's challenge (lower case, as Node reports it). */
export const CHALLENGE_HEADER = "x-tsgrid-challenge";
const CHALLENGE_BYTES = 18;
/** Longest challenge accepted from a peer. */
export const MAX_CHALLENGE_CHARS = 256;

/** A fresh random challenge: 18 bytes, 24 base64url chars. */
export function newChallenge(): string {
  return randomBytes(CHALLENGE_BYTES).toString("base64url");
}

/** Handshake payloads are small; anything bigger is refused before decoding. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;
const MAX_NAME_CHARS = 2048;
const MAX_INSTANCE_ID_CHARS = 128;
const MAX_TOKEN_CHARS = 4096;
const MAX_REASON_CHARS = 1024;

export interface ConnectRequest {
  version: number;
  /** The dialling server's name (its address). */
  from: string;
  /** The name of the server it means to reach. */
  to: string;
  /** Random per Manager instance: a new one means the peer restarted. */
  instanceId: string;
  /** Sender's clock (ms since the epoch), to refuse a skewed peer. */
  time: number;
  /** From `ClusterAuth.token`, signing the listener's challenge; "" without auth. */
  token: string;
  /** The dialler's fresh challenge, which the listener's answer token signs. */
  challenge: string;
}

export type ConnectResponse =
  | { accepted: true; version: number; from: string; instanceId: string; time: number; token: string }
  | { accepted: false; version: number; from: string; instanceId: string; time: number; code: ErrorCode; reason: string };

const packr = new Packr({ useRecords: false });

function frameOf(op: Op, payload: Uint8Array): Uint8Array {
  const frame = emptyFrame();
  frame.op = op;
  frame.payload = payload;
  return encodeFrame(frame);
}

export function encodeConnect(req: ConnectRequest): Uint8Array {
  return frameOf(Op.Connect, packr.pack([req.version, req.from, req.to, req.instanceId, req.time, req.token, req.challenge]));
}

export function encodeConnectResponse(res: ConnectResponse): Uint8Array {
  const tail = res.accepted ? [res.token, "", ""] : ["", res.code, res.reason.slice(0, MAX_REASON_CHARS)];
  return frameOf(Op.ConnectResponse, packr.pack([res.version, res.from, res.instanceId, res.time, ...tail]));
}

/** Decodes one message that must be exactly one frame of `op`; returns its fields. */
function decodeFields(message: Uint8Array, op: Op, count: number, olderCount = count): unknown[] {
  let found: Frame | undefined;
  let frames = 0;
  decodeMessage(message, { maxPayloadBytes: MAX_HANDSHAKE_BYTES }, emptyFrame(), (frame) => {
    frames++;
    found = frame;
  });
  if (found === undefined || frames !== 1 || found.op !== op) {
    throw new ProtocolError(`expected ${opName(op)} as the first message, got ${found === undefined ? "nothing" : opName(found.op)}`);
  }
  if (found.payload === undefined) throw new ProtocolError(`${opName(op)} without payload`);
  let fields: unknown;
  try {
    fields = packr.unpack(found.payload);
  } catch {
    throw new ProtocolError(`${opName(op)} payload is not msgpack`);
  }
  // A peer of another version may lay its fields out differently: its version is still
  // read (it comes first), so the refusal names the version, not the layout.
  const otherVersion = Array.isArray(fields) && fields[0] !== PROTOCOL_VERSION && fields.length === olderCount;
  if (!Array.isArray(fields) || (fields.length !== count && !otherVersion)) {
    throw new ProtocolError(`${opName(op)} payload must be an array of ${count} fields`);
  }
  return fields;
}

function str(value: unknown, field: string, max: number): string {
  if (typeof value !== "string" || value.length > max) {
    throw new ProtocolError(`handshake field ${field} must be a string of at most ${max} chars`);
  }
  return value;
}

function int(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ProtocolError(`handshake field ${field} must be an integer`);
  }
  return value;
}

/** Decodes a Connect message; throws ProtocolError on anything malformed. */
export function decodeConnect(message: Uint8Array): ConnectRequest {
  const f = decodeFields(message, Op.Connect, 7, 6);
  return {
    version: int(f[0], "version"),
    from: str(f[1], "from", MAX_NAME_CHARS),
    to: str(f[2], "to", MAX_NAME_CHARS),
    instanceId: str(f[3], "instanceId", MAX_INSTANCE_ID_CHARS),
    time: int(f[4], "time"),
    token: str(f[5], "token", MAX_TOKEN_CHARS),
    challenge: f.length > 6 ? str(f[6], "challenge", MAX_CHALLENGE_CHARS) : "",
  };
}

const knownCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Decodes a ConnectResponse message; throws ProtocolError on anything malformed. */
export function decodeConnectResponse(message: Uint8Array): ConnectResponse {
  const f = decodeFields(message, Op.ConnectResponse, 7);
  const head = {
    version: int(f[0], "version"),
    from: str(f[1], "from", MAX_NAME_CHARS),
    instanceId: str(f[2], "instanceId", MAX_INSTANCE_ID_CHARS),
    time: int(f[3], "time"),
  };
  const token = str(f[4], "token", MAX_TOKEN_CHARS);
  const code = str(f[5], "code", 64);
  const reason = str(f[6], "reason", MAX_REASON_CHARS);
  if (code === "") return { accepted: true, ...head, token };
  // An unknown code from a newer peer still refuses: it becomes a protocol error.
  return { accepted: false, ...head, code: knownCodes.has(code) ? (code as ErrorCode) : ErrorCode.Protocol, reason };
}

/** What a side knows to judge the other's handshake. */
export interface HandshakePolicy {
  /** This server's name. */
  local: string;
  /** Every server of the cluster (this one included or not). */
  hosts: ReadonlySet<string>;
  /** Largest accepted difference between the peer's clock and ours, in ms. */
  maxClockSkewMs: number;
  auth: ClusterAuth | undefined;
  now: () => number;
}

async function verifyToken(policy: HandshakePolicy, token: string, remote: string, challenge: string): Promise<boolean> {
  if (policy.auth === undefined) return true;
  try {
    return (await policy.auth.verify(token, remote, policy.local, challenge)) === true;
  } catch {
    return false; // a throwing verifier refuses; never lets the peer in
  }
}

function skewError(policy: HandshakePolicy, time: number, peer: string): GridError | undefined {
  const skew = time - policy.now();
  if (Math.abs(skew) <= policy.maxClockSkewMs) return undefined;
  return new UnauthenticatedError(
    `clock skew of ${skew} ms with ${peer} exceeds the limit of ${policy.maxClockSkewMs} ms`,
  );
}

/**
 * The listening side's checks of a Connect: the reason to refuse it, or undefined to accept.
 * `challenge` is the one this side sent in its upgrade answer on this link. Order matters
 * only for which reason is reported: the cheapest, most telling first.
 */
export async function checkConnect(req: ConnectRequest, policy: HandshakePolicy, challenge: string): Promise<GridError | undefined> {
  if (req.version !== PROTOCOL_VERSION) {
    return new ProtocolError(`protocol version ${req.version} is not supported (this server speaks ${PROTOCOL_VERSION})`);
  }
  if (req.to !== policy.local) {
    return new UnauthenticatedError(
      `wrong target: this server is ${policy.local}, not ${req.to} (every node must list each server under the address it gives itself as local)`,
    );
  }
  if (req.from === policy.local || !policy.hosts.has(req.from)) {
    return new UnauthenticatedError(`unknown host ${req.from}: not in this server's hosts (is it listed under another address?)`);
  }
  const skew = skewError(policy, req.time, req.from);
  if (skew !== undefined) return skew;
  if (!(await verifyToken(policy, req.token, req.from, challenge))) {
    return new UnauthenticatedError(`bad auth token from ${req.from}`);
  }
  return undefined;
}

/**
 * The dialling side's checks of a ConnectResponse from `remote`: the error to fail the
 * attempt with (the peer's refusal, or ours of the peer), or undefined when connected.
 * `challenge` is the one this side sent in its Connect.
 */
export async function checkConnectResponse(
  res: ConnectResponse,
  remote: string,
  policy: HandshakePolicy,
  challenge: string,
): Promise<GridError | undefined> {
  if (!res.accepted) return GridError.fromWire(res.code, `refused by ${remote}: ${res.reason}`);
  if (res.version !== PROTOCOL_VERSION) {
    return new ProtocolError(`${remote} answered with protocol version ${res.version}, this server speaks ${PROTOCOL_VERSION}`);
  }
  if (res.from !== remote) {
    return new UnauthenticatedError(`dialled ${remote} but reached ${res.from} (every node must list each server under the address it gives itself as local)`);
  }
  const skew = skewError(policy, res.time, remote);
  if (skew !== undefined) return skew;
  if (!(await verifyToken(policy, res.token, remote, challenge))) {
    return new UnauthenticatedError(`bad auth token in the answer of ${remote}`);
  }
  return undefined;
}

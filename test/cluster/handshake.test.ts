import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import {
  PROTOCOL_VERSION,
  checkConnect,
  checkConnectResponse,
  decodeConnect,
  decodeConnectResponse,
  encodeConnect,
  encodeConnectResponse,
  type ConnectRequest,
  type HandshakePolicy,
} from "../../runtime/cluster/handshake.js";
import { ErrorCode, ProtocolError } from "../../runtime/errors.js";
import { Op, emptyFrame, encodeFrame } from "../../runtime/protocol/frame.js";

const A = "ws://127.0.0.1:9001/grid";
const B = "ws://127.0.0.1:9002/grid";
const NOW = 1_700_000_000_000;
/** The verifier's challenge for the link under test. */
const CH = "verifier-challenge";

function policy(local: string, extra: Partial<HandshakePolicy> = {}): HandshakePolicy {
  return { local, hosts: new Set([A, B]), maxClockSkewMs: 1000, auth: undefined, now: () => NOW, ...extra };
}

function request(extra: Partial<ConnectRequest> = {}): ConnectRequest {
  return { version: PROTOCOL_VERSION, from: A, to: B, instanceId: "i-a", time: NOW, token: "", challenge: "dialler-challenge", ...extra };
}

function rawFrame(op: Op, payload: unknown): Uint8Array {
  const frame = emptyFrame();
  frame.op = op;
  frame.payload = new Packr({ useRecords: false }).pack(payload);
  return encodeFrame(frame);
}

describe("handshake codec", () => {
  it("round-trips Connect", () => {
    const req = request({ token: "tok" });
    expect(decodeConnect(encodeConnect(req))).toEqual(req);
  });

  it("round-trips accepted and refused ConnectResponse", () => {
    const ok = { accepted: true as const, version: 1, from: B, instanceId: "i-b", time: NOW, token: "t" };
    expect(decodeConnectResponse(encodeConnectResponse(ok))).toEqual(ok);
    const no = {
      accepted: false as const,
      version: 1,
      from: B,
      instanceId: "i-b",
      time: NOW,
      code: ErrorCode.Unauthenticated,
      reason: "bad auth token",
    };
    expect(decodeConnectResponse(encodeConnectResponse(no))).toEqual(no);
  });

  it("reads an older version's Connect far enough to refuse it by version", async () => {
    const old = decodeConnect(rawFrame(Op.Connect, [1, A, B, "i", NOW, "v1.token"]));
    expect(old).toMatchObject({ version: 1, challenge: "" });
    const err = await checkConnect(old, policy(B), CH);
    expect(err?.code).toBe(ErrorCode.Protocol);
    expect(err?.message).toContain("protocol version 1 is not supported");
    // This version without its challenge field is malformed.
    expect(() => decodeConnect(rawFrame(Op.Connect, [PROTOCOL_VERSION, A, B, "i", NOW, ""]))).toThrow(ProtocolError);
  });

  it("maps an unknown refusal code to protocol", () => {
    const res = decodeConnectResponse(rawFrame(Op.ConnectResponse, [1, B, "i", NOW, "", "new_code", "why"]));
    expect(res).toMatchObject({ accepted: false, code: ErrorCode.Protocol, reason: "why" });
  });

  it("rejects malformed input with ProtocolError, never anything else", () => {
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([1, 2, 3]),
      encodeConnectResponse({ accepted: true, version: 1, from: B, instanceId: "i", time: NOW, token: "" }), // wrong op
      rawFrame(Op.Connect, { version: 1 }),
      rawFrame(Op.Connect, [1, A, B, "i", NOW]),
      rawFrame(Op.Connect, [1, A, B, "i", "now", ""]),
      rawFrame(Op.Connect, [1.5, A, B, "i", NOW, ""]),
      rawFrame(Op.Connect, [1, 42, B, "i", NOW, ""]),
      rawFrame(Op.Connect, [1, A, B, "i".repeat(1000), NOW, ""]),
      rawFrame(Op.Ping, [1, A, B, "i", NOW, ""]),
    ];
    const frame = emptyFrame();
    frame.op = Op.Connect;
    frame.payload = new Uint8Array([0xc1]); // never-used msgpack byte
    bad.push(encodeFrame(frame));
    for (const message of bad) expect(() => decodeConnect(message)).toThrow(ProtocolError);
    expect(() => decodeConnectResponse(encodeConnect(request()))).toThrow(ProtocolError);
  });
});

describe("checkConnect", () => {
  it("accepts a good request", async () => {
    expect(await checkConnect(request(), policy(B), CH)).toBeUndefined();
  });

  it("refuses another protocol version", async () => {
    const err = await checkConnect(request({ version: 99 }), policy(B), CH);
    expect(err?.code).toBe(ErrorCode.Protocol);
    expect(err?.message).toContain("version 99");
  });

  it("refuses a wrong target", async () => {
    const err = await checkConnect(request({ to: "ws://127.0.0.1:9999/grid" }), policy(B), CH);
    expect(err?.code).toBe(ErrorCode.Unauthenticated);
    expect(err?.message).toContain("wrong target");
  });

  it("refuses an unknown host and itself", async () => {
    const err = await checkConnect(request({ from: "ws://evil:1/grid" }), policy(B), CH);
    expect(err?.code).toBe(ErrorCode.Unauthenticated);
    expect(err?.message).toContain("unknown host ws://evil:1/grid");
    expect((await checkConnect(request({ from: B }), policy(B), CH))?.message).toContain("unknown host");
  });

  it("refuses clock skew beyond the limit, both ways", async () => {
    expect(await checkConnect(request({ time: NOW + 1000 }), policy(B), CH)).toBeUndefined();
    for (const time of [NOW + 1001, NOW - 1001]) {
      const err = await checkConnect(request({ time }), policy(B), CH);
      expect(err?.code).toBe(ErrorCode.Unauthenticated);
      expect(err?.message).toContain("clock skew");
    }
  });

  it("verifies the token with auth, and a throwing or async verifier", async () => {
    const authA = sharedSecretAuth("x");
    const authB = sharedSecretAuth("x");
    const good = request({ token: authA.token(B, A, CH) as string });
    expect(await checkConnect(good, policy(B, { auth: authB }), CH)).toBeUndefined();
    const bad = await checkConnect(request({ token: "nope" }), policy(B, { auth: authB }), CH);
    expect(bad?.code).toBe(ErrorCode.Unauthenticated);
    expect(bad?.message).toContain("bad auth token");
    expect(bad?.message).not.toContain("nope");
    const throwing = { token: () => "", verify: (): boolean => { throw new Error("boom"); } };
    expect((await checkConnect(request(), policy(B, { auth: throwing }), CH))?.code).toBe(ErrorCode.Unauthenticated);
    const asyncOk = { token: () => "", verify: async (): Promise<boolean> => true };
    expect(await checkConnect(request(), policy(B, { auth: asyncOk }), CH)).toBeUndefined();
  });
});

describe("checkConnectResponse", () => {
  const ok = { accepted: true as const, version: PROTOCOL_VERSION, from: B, instanceId: "i-b", time: NOW, token: "" };

  it("accepts the expected peer", async () => {
    expect(await checkConnectResponse(ok, B, policy(A), CH)).toBeUndefined();
  });

  it("turns a refusal into the peer's error with its reason", async () => {
    const err = await checkConnectResponse(
      { ...ok, accepted: false, code: ErrorCode.Unauthenticated, reason: "bad auth token from A" },
      B,
      policy(A),
      CH,
    );
    expect(err?.code).toBe(ErrorCode.Unauthenticated);
    expect(err?.message).toContain(`refused by ${B}: bad auth token from A`);
  });

  it("refuses another responder, skew, version and a bad token", async () => {
    expect((await checkConnectResponse({ ...ok, from: "ws://x:1/g" }, B, policy(A), CH))?.message).toContain("reached");
    expect((await checkConnectResponse({ ...ok, time: NOW + 5000 }, B, policy(A), CH))?.message).toContain("clock skew");
    expect((await checkConnectResponse({ ...ok, version: 7 }, B, policy(A), CH))?.code).toBe(ErrorCode.Protocol);
    const auth = sharedSecretAuth("x");
    expect((await checkConnectResponse(ok, B, policy(A, { auth }), CH))?.message).toContain("bad auth token");
    const good = { ...ok, token: sharedSecretAuth("x").token(A, B, CH) as string };
    expect(await checkConnectResponse(good, B, policy(A, { auth }), CH)).toBeUndefined();
  });
});

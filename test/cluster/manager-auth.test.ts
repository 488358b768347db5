/**
 * Authentication at the handshake: a peer with the wrong secret, or not in `hosts`, is
 * refused, cannot reach any handler, and the refused side learns why.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import type { ClusterAuth } from "../../runtime/auth/cluster-auth.js";
import { Manager } from "../../runtime/cluster/manager.js";
import {
  CHALLENGE_HEADER,
  PROTOCOL_VERSION,
  decodeConnectResponse,
  encodeConnect,
  type ConnectResponse,
} from "../../runtime/cluster/handshake.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { DisconnectedError, ErrorCode, type GridError } from "../../runtime/errors.js";
import { Op, emptyFrame, encodeFrame } from "../../runtime/protocol/frame.js";
import { connectWS } from "../../runtime/transport/connect-ws.js";
import { freePorts, recordingLogger, until } from "./helpers.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

interface Node {
  manager: Manager;
  logger: ReturnType<typeof recordingLogger>;
  /** Callers each handler invocation came from. */
  served: string[];
  /** Refusal reasons seen in state events, by peer. */
  reasons: Map<string, GridError>;
}

function node(local: string, hosts: string[], auth: ClusterAuth | undefined): Node {
  const logger = recordingLogger();
  const manager = new Manager({ local, hosts, auth, logger, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
  const served: string[] = [];
  manager.registerSingle(1, (payload, ctx) => {
    served.push(ctx.caller);
    return payload;
  });
  const reasons = new Map<string, GridError>();
  manager.onStateChange((peer, _state, _previous, reason) => {
    if (reason !== undefined && (reason as GridError).code === ErrorCode.Unauthenticated) reasons.set(peer, reason as GridError);
  });
  cleanups.push(() => manager.close());
  return { manager, logger, served, reasons };
}

/** `token` signs the listener's challenge (from its upgrade answer), or is a fixed string. */
async function rawHandshake(
  address: string,
  from: string,
  token: string | ((challenge: string) => string),
  thenRequest: boolean,
): Promise<{ res: ConnectResponse; ws: WebSocket }> {
  let challenge = "";
  const ws = await connectWS(address, { onUpgrade: (r) => (challenge = String(r.headers[CHALLENGE_HEADER])) });
  cleanups.push(() => ws.terminate());
  const first = new Promise<Uint8Array>((resolve) => ws.once("message", (data) => resolve(data as Buffer)));
  const signed = typeof token === "string" ? token : token(challenge);
  ws.send(encodeConnect({ version: PROTOCOL_VERSION, from, to: address, instanceId: "intruder", time: Date.now(), token: signed, challenge: "c" }));
  if (thenRequest) {
    // Sent before any answer: must never reach a handler.
    const frame = emptyFrame();
    frame.op = Op.Request;
    frame.handler = 1;
    frame.muxId = 1;
    frame.deadlineMs = 1000;
    frame.payload = new Uint8Array([1]);
    ws.send(encodeFrame(frame));
  }
  return { res: decodeConnectResponse(await first), ws };
}

const closed = (ws: WebSocket): Promise<void> =>
  new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once("close", () => resolve())));

describe("auth", () => {
  it("refuses a peer with the wrong secret both ways; it cannot call anything and learns why", async () => {
    const hosts = (await freePorts(3)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [a, b, c] = hosts as [string, string, string];
    const na = node(a, hosts, sharedSecretAuth("right"));
    const nb = node(b, hosts, sharedSecretAuth("right"));
    const nc = node(c, hosts, sharedSecretAuth("wrong"));
    await Promise.all([na.manager.listen(), nb.manager.listen(), nc.manager.listen()]);

    await na.manager.connection(b).waitConnected();
    expect([...(await na.manager.connection(b).request(1, new Uint8Array([5])))]).toEqual([5]);
    expect([...(await nb.manager.connection(a).request(1, new Uint8Array([6])))]).toEqual([6]);

    for (const good of [na, nb]) {
      const name = good.manager.local;
      const cDials = shouldDial(c, name);
      const dialler = cDials ? nc : good;
      const peerOfDialler = cDials ? name : c;
      // The dialling side gets the refusal with its reason, as a state event and an error log.
      await until(() => dialler.reasons.has(peerOfDialler), 5000, `refusal of ${c} <-> ${name}`);
      expect(dialler.reasons.get(peerOfDialler)!.message).toContain("bad auth token");
      // Both sides log the refusal at error level, naming the reason.
      for (const side of [nc, good]) {
        expect(side.logger.records.some((r) => r.level === "error" && JSON.stringify(r.fields).includes("bad auth token"))).toBe(true);
      }
      expect(good.manager.connection(c).state).not.toBe("connected");
      expect(nc.manager.connection(name).state).not.toBe("connected");
      await expect(nc.manager.connection(name).request(1, new Uint8Array())).rejects.toBeInstanceOf(DisconnectedError);
    }
    expect(na.served.concat(nb.served)).not.toContain(c);
    expect(nc.served).toEqual([]);
    // Tokens are never logged.
    for (const n of [na, nb, nc]) expect(n.logger.text()).not.toMatch(/v2\.[A-Za-z0-9_-]{43}/);
  });

  it("refuses a forged handshake, ignores the calls sent behind it, and closes the link", async () => {
    const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [a, b] = hosts as [string, string];
    const na = node(a, hosts, sharedSecretAuth("right"));
    await na.manager.listen();
    const { res, ws } = await rawHandshake(a, b, (ch) => sharedSecretAuth("guess").token(a, b, ch) as string, true);
    expect(res).toMatchObject({ accepted: false, code: ErrorCode.Unauthenticated, from: a });
    expect(res.accepted ? "" : res.reason).toContain(`bad auth token from ${b}`);
    await closed(ws);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(na.served).toEqual([]);
  });

  it("verifies the listener too: a server without the secret cannot pose as a peer", async () => {
    const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [a, b] = hosts as [string, string];
    const secured = node(a, hosts, sharedSecretAuth("right"));
    const open = node(b, hosts, undefined);
    await Promise.all([secured.manager.listen(), open.manager.listen()]);
    await until(() => secured.logger.records.some((r) => r.level === "error"), 5000, "refusal");
    expect(secured.logger.text()).toContain("bad auth token");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(secured.served).toEqual([]);
    expect(secured.manager.connection(b).state).not.toBe("connected");
  });
});

describe("hosts", () => {
  it("refuses a server that is not in hosts, and it learns why", async () => {
    const ports = await freePorts(3);
    const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
    // Pick a listener A and an outsider D that dials A (so D's own logic connects to A).
    const pairs = hosts.flatMap((x) => hosts.filter((y) => y !== x && shouldDial(y, x)).map((y) => [x, y] as const));
    const [a, d] = pairs[0]!;
    const na = node(a, [a], undefined); // A's cluster is A alone
    const nd = node(d, [a, d], undefined);
    await Promise.all([na.manager.listen(), nd.manager.listen()]);
    await until(() => nd.reasons.has(a), 5000, "refusal of the outsider");
    expect(nd.reasons.get(a)!.message).toContain(`unknown host ${d}`);
    expect(na.logger.text()).toContain("unknown host");
    expect(na.served).toEqual([]);

    // A raw client claiming an unknown name gets the same answer.
    const { res, ws } = await rawHandshake(a, "ws://127.0.0.1:1/grid", "", true);
    expect(res.accepted ? "" : res.reason).toContain("unknown host ws://127.0.0.1:1/grid");
    await closed(ws);
    expect(na.served).toEqual([]);
  });

  it("refuses a peer that dials the wrong way round", async () => {
    const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [x, y] = hosts as [string, string];
    const [listener, other] = shouldDial(x, y) ? [x, y] : [y, x]; // `listener` is the one that dials
    const n = node(listener, hosts, undefined);
    await n.manager.listen();
    const { res } = await rawHandshake(listener, other, "", false);
    expect(res).toMatchObject({ accepted: false, code: ErrorCode.Protocol });
    expect(res.accepted ? "" : res.reason).toContain("not the other way round");
  });
});

/**
 * Review, against a hand-driven peer: a peer's words reach our logs and errors only in
 * bounded size; what we send it stays well-formed whatever it grants (one input EOF).
 */
import { describe, expect, it } from "vitest";
import { Flag, Op } from "../../runtime/protocol/frame.js";
import { until } from "./helpers.js";
import { rawPeer } from "./raw-peer.js";

describe("a Disconnect frame with a huge reason", () => {
  it("ends the connection with a reason cut to the error-message limit", async () => {
    const peer = rawPeer();
    let reason: Error | undefined;
    peer.conn.onStateChange((_s, _p, r) => (reason = r));
    peer.sendFrame({ op: Op.Disconnect, payload: new TextEncoder().encode("x".repeat(200_000)) });
    await until(() => peer.conn.state === "disconnected", 2000);
    expect(reason?.message.length).toBeLessThan(4200);
    peer.conn.close();
  });
});

describe("stream input EOF", () => {
  it("goes out once, however many credits arrive after requests.close()", async () => {
    const peer = rawPeer();
    const opening = peer.conn.newStream(7);
    await until(() => peer.received.some((f) => f.op === Op.ConnectMux), 2000);
    const muxId = peer.received.find((f) => f.op === Op.ConnectMux)!.muxId;
    const ack = new Uint8Array(8);
    new DataView(ack.buffer).setUint32(0, 4, true); // inCapacity
    new DataView(ack.buffer).setUint32(4, 4, true); // outCapacity
    peer.sendFrame({ op: Op.AckMux, muxId, payload: ack });
    const stream = await opening;
    await stream.requests!.send(new Uint8Array([1]));
    stream.requests!.close();
    for (let i = 0; i < 3; i++) peer.sendFrame({ op: Op.UnblockClientMux, muxId, seq: 1 });
    await new Promise((r) => setTimeout(r, 50));
    const eofs = peer.received.filter((f) => f.op === Op.MuxClientMsg && (f.flags & Flag.EOF) !== 0);
    expect(eofs).toHaveLength(1);
    stream.cancel();
    peer.conn.close();
  });
});

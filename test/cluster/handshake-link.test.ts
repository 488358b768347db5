import { describe, expect, it } from "vitest";
import { HandshakeLink } from "../../runtime/cluster/handshake-link.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import { DisconnectedError } from "../../runtime/errors.js";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

describe("HandshakeLink", () => {
  it("reads the handshake, holds back what follows, and replays it in order on hand-over", async () => {
    const [near, far] = memoryTransportPair();
    const link = new HandshakeLink(near);
    far.send(bytes(1));
    far.send(bytes(2));
    far.send(bytes(3));
    expect([...(await link.next())]).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 10)); // 2 and 3 arrive while "verifying"
    const seen: number[] = [];
    const transport = link.handOver();
    transport.setHandlers({ onMessage: (d) => seen.push(d[0]!), onClose: () => {} });
    expect(seen).toEqual([2, 3]); // replayed synchronously
    far.send(bytes(4));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toEqual([2, 3, 4]);
    transport.send(bytes(5));
    const back = await new Promise<number>((resolve) => far.setHandlers({ onMessage: (d) => resolve(d[0]!), onClose: () => {} }));
    expect(back).toBe(5);
    transport.terminate();
  });

  it("hands over the transport itself when nothing was held back", async () => {
    const [near, far] = memoryTransportPair();
    const link = new HandshakeLink(near);
    far.send(bytes(1));
    expect([...(await link.next())]).toEqual([1]);
    expect(link.handOver()).toBe(near);
  });

  it("rejects a pending read when the link closes, and calls onClosed once", async () => {
    const [near, far] = memoryTransportPair();
    let closed = 0;
    const link = new HandshakeLink(near, () => closed++);
    const read = link.next();
    far.terminate();
    await expect(read).rejects.toBeInstanceOf(DisconnectedError);
    await expect(link.next()).rejects.toBeInstanceOf(DisconnectedError);
    expect(closed).toBe(1);
  });

  it("reports a close that happened before the hand-over to the new owner, after the held messages", async () => {
    const [near, far] = memoryTransportPair();
    const link = new HandshakeLink(near);
    far.send(bytes(1));
    far.send(bytes(2));
    far.close();
    expect([...(await link.next())]).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const events: string[] = [];
    link.handOver().setHandlers({ onMessage: (d) => events.push(`m${d[0]}`), onClose: () => events.push("close") });
    expect(events).toEqual(["m2", "close"]);
  });
});

import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { DisconnectedError } from "../../runtime/errors.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import type { MessageTransport } from "../../runtime/transport/message-transport.js";
import { wsTransport } from "../../runtime/transport/ws-transport.js";
import { sleep, until, wsPair } from "./helpers.js";

function recorder(t: MessageTransport) {
  const got: number[][] = [];
  const closes: (Error | undefined)[] = [];
  t.setHandlers({ onMessage: (d) => got.push([...d]), onClose: (r) => closes.push(r) });
  return { got, closes };
}

describe("wsTransport", () => {
  it("buffers messages until setHandlers, then delivers them in order; onClose exactly once", async () => {
    const { client, server, done } = await wsPair();
    const ts = wsTransport(server);
    const tc = wsTransport(client);
    tc.send(Uint8Array.of(1));
    tc.send(Uint8Array.of(2, 2));
    await sleep(30);
    const r = recorder(ts);
    expect(r.got).toEqual([[1], [2, 2]]);
    tc.send(Uint8Array.of(3));
    await until(() => r.got.length === 3);
    const rc = recorder(tc);
    ts.close(1000, "bye");
    ts.close(); // idempotent
    ts.terminate();
    await until(() => r.closes.length === 1 && rc.closes.length === 1);
    await sleep(20);
    expect(r.closes).toHaveLength(1);
    expect(rc.closes).toHaveLength(1);
    expect(rc.closes[0]).toBeInstanceOf(DisconnectedError);
    expect(rc.closes[0]!.message).toMatch(/1000 bye/);
    tc.send(Uint8Array.of(9)); // after close: dropped, no throw
    expect(tc.bufferedAmount).toBe(0);
    await done();
  });

  it("reports a close that happened before setHandlers", async () => {
    const { client, server, done } = await wsPair();
    const tc = wsTransport(client);
    server.terminate();
    await once(client, "close");
    const r = recorder(tc);
    expect(r.closes).toHaveLength(1);
    await done();
  });
});

describe("memoryTransportPair", () => {
  it("delivers asynchronously, in order, copies the bytes, and counts bufferedAmount", async () => {
    const [a, b] = memoryTransportPair();
    const rb = recorder(b);
    recorder(a);
    const buf = Uint8Array.of(1, 2, 3);
    a.send(buf);
    buf[0] = 99; // the sender may reuse its buffer
    a.send(Uint8Array.of(4));
    expect(rb.got).toEqual([]);
    expect(a.bufferedAmount).toBe(4);
    await until(() => rb.got.length === 2);
    expect(rb.got).toEqual([[1, 2, 3], [4]]);
    expect(a.bufferedAmount).toBe(0);
  });

  it("close delivers what was sent, then closes both ends once; terminate drops", async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder(a);
    const rb = recorder(b);
    a.send(Uint8Array.of(1));
    a.close();
    a.close();
    await until(() => ra.closes.length === 1 && rb.closes.length === 1);
    expect(rb.got).toEqual([[1]]);
    const [c, d] = memoryTransportPair();
    const rd = recorder(d);
    recorder(c);
    c.send(Uint8Array.of(1));
    c.terminate();
    await until(() => rd.closes.length === 1);
    expect(rd.got).toEqual([]);
  });
});

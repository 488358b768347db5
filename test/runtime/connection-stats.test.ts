/**
 * The stats a metrics scrape reads: queued bytes, calls waiting for room, streams waiting for
 * the peer's credits (tsgrid/metrics exports them per peer).
 */
import { afterEach, describe, expect, it } from "vitest";
import { DisconnectedError } from "../../runtime/errors.js";
import { bytes, makePair, until } from "./helpers.js";
import type { Pair } from "./helpers.js";
import { rawPeer } from "./raw-peer.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe("ConnectionStats: queue and credits", () => {
  it("queuedBytes and waitingForRoom follow a backed-up socket", async () => {
    const peer = rawPeer({ maxQueuedBytes: 100, roomPollMs: 1 });
    const transport = (peer.conn as unknown as { transport: { bufferedAmount: number } }).transport;
    let backlog = 10_000;
    Object.defineProperty(transport, "bufferedAmount", { get: () => backlog, configurable: true });
    expect(peer.conn.stats.queuedBytes).toBe(10_000);
    const ac = new AbortController();
    const first = peer.conn.request(1, bytes("x"), { signal: ac.signal }).catch((e: unknown) => e);
    const second = peer.conn.request(1, bytes("y")).catch((e: unknown) => e);
    expect(peer.conn.stats.waitingForRoom).toBe(2);
    ac.abort();
    await first;
    expect(peer.conn.stats.waitingForRoom).toBe(1); // a cancelled waiter is not counted
    backlog = 0;
    await until(() => peer.conn.stats.waitingForRoom === 0);
    expect(peer.conn.stats.queuedBytes).toBe(0);
    peer.conn.close();
    expect(await second).toBeInstanceOf(DisconnectedError);
  });

  it("awaitingCredit counts a handler blocked on the caller's credits and a caller blocked on the server's", async () => {
    pair = await makePair("ws");
    // Output: 1 credit, the caller never reads, so the handler waits at its second yield.
    pair.rb.registerStream(1, async function* () {
      for (let i = 0; i < 10; i++) yield bytes(String(i));
    }, { outCapacity: 1 });
    // Input: 1 credit and a handler that never reads, so the caller's second send waits.
    pair.rb.registerStream(2, async function* (_p, _input, ctx) {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    }, { inCapacity: 1 });
    expect(pair.a.stats.awaitingCredit).toBe(0);
    expect(pair.b.stats.awaitingCredit).toBe(0);

    const out = await pair.a.newStream(1);
    await until(() => pair!.b.stats.awaitingCredit === 1);
    expect(pair.a.stats.awaitingCredit).toBe(0);

    const input = await pair.a.newStream(2);
    await input.requests!.send(bytes("a")); // within the credit
    const blocked = input.requests!.send(bytes("b"));
    await until(() => pair!.a.stats.awaitingCredit === 1);

    // Reading the output gives the handler credits: it finishes, b's count drops.
    for await (const _ of out.responses);
    await until(() => pair!.b.stats.awaitingCredit === 0);
    input.cancel();
    await blocked.catch(() => {});
    await until(() => pair!.a.stats.awaitingCredit === 0);
  });
});

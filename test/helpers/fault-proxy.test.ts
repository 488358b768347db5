/** The fault proxy does what each toxic says (so the tests built on it test something). */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FaultProxy, type Toxics } from "./fault-proxy.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** An echo server on 127.0.0.1. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function proxied(toxics: Toxics = {}): Promise<{ proxy: FaultProxy; client: Socket }> {
  const { port } = await echoServer();
  const proxy = await FaultProxy.start({ target: { host: "127.0.0.1", port }, toxics });
  cleanups.push(() => proxy.close());
  const client = connect(proxy.port, "127.0.0.1");
  client.on("error", () => {});
  cleanups.push(() => client.destroy());
  await new Promise((r) => client.once("connect", r));
  return { proxy, client };
}

/** Writes `bytes` and resolves when as many came back, with the time it took. */
function roundTrip(client: Socket, bytes: number): Promise<{ ms: number; chunks: number }> {
  return new Promise((resolve) => {
    const start = performance.now();
    let got = 0;
    let chunks = 0;
    const onData = (d: Buffer): void => {
      got += d.length;
      chunks++;
      if (got >= bytes) {
        client.off("data", onData);
        resolve({ ms: performance.now() - start, chunks });
      }
    };
    client.on("data", onData);
    client.write(Buffer.alloc(bytes, 7));
  });
}

describe("FaultProxy", () => {
  it("without toxics forwards bytes unchanged", async () => {
    const { client } = await proxied();
    const got: Buffer[] = [];
    client.on("data", (d: Buffer) => got.push(d));
    const sent = Buffer.from("hello through the proxy");
    client.write(sent);
    await until(() => Buffer.concat(got).length >= sent.length);
    expect(Buffer.concat(got).equals(sent)).toBe(true);
  });

  it("latency ± jitter delays each direction and keeps the byte order", async () => {
    const { client } = await proxied({ latencyMs: 50, jitterMs: 20 });
    const { ms } = await roundTrip(client, 10);
    // 50 ± 20 ms each way: a round trip takes at least 60 ms.
    expect(ms).toBeGreaterThanOrEqual(60);
    expect(ms).toBeLessThan(400);
    // Many small writes come back in order despite the jitter.
    const got: Buffer[] = [];
    client.on("data", (d: Buffer) => got.push(d));
    const expected: number[] = [];
    for (let i = 0; i < 200; i++) {
      expected.push(i);
      client.write(Buffer.from([i]));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => Buffer.concat(got).length >= 200, 5_000);
    expect([...Buffer.concat(got)]).toEqual(expected);
  });

  it("bandwidth limits the rate", async () => {
    const { client } = await proxied({ bytesPerSecond: 1_000_000 });
    const { ms } = await roundTrip(client, 250_000);
    // 250 kB at 1 MB/s each way, pipelined: at least 250 ms.
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(3_000);
  });

  it("slicer cuts writes into small pieces", async () => {
    const { client } = await proxied({ sliceBytes: 500, sliceDelayMs: 2 });
    const { chunks } = await roundTrip(client, 10_000);
    // Unsliced, 10 kB on loopback arrives in one or two reads.
    expect(chunks).toBeGreaterThan(4);
  });

  it("timeout drops every byte, then closes the connections", async () => {
    const { proxy, client } = await proxied();
    proxy.timeout(300);
    const got: Buffer[] = [];
    client.on("data", (d: Buffer) => got.push(d));
    const closed = new Promise<number>((resolve) => {
      const start = performance.now();
      client.once("close", () => resolve(performance.now() - start));
    });
    client.write("into the void");
    const ms = await closed;
    expect(got.length).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(250);
  });

  it("resetPeers resets the connection (ECONNRESET, not a clean end)", async () => {
    const { proxy, client } = await proxied();
    await roundTrip(client, 10);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => client.once("error", resolve));
    proxy.resetPeers();
    expect((await error).code).toBe("ECONNRESET");
  });
});

async function until(cond: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

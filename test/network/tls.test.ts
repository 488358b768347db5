/**
 * A mutual-TLS cluster (wss://) with certificates made in the test (test/helpers/pki.ts):
 * singles and bidi streams in every direction, and the refusals: a certificate from another
 * CA, an expired certificate, no client certificate, a server certificate that does not
 * cover the dialled host name. Each refusal is logged with its reason on BOTH sides, naming
 * the peer: the dialler logs the address it dialled, the listener the remote address (and
 * the certificate's names when one was shown).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { createTcpDialer } from "../../runtime/transport/dialer.js";
import { freePorts, recordingLogger, until, type LogRecord } from "../cluster/helpers.js";
import { startTlsServer } from "../../examples/operations/tls.js";
import { makePki, opensslMissing, type CertPair, type Pki } from "../helpers/pki.js";

const skip = opensslMissing();
if (skip !== undefined) console.log(`TLS suite skipped: ${skip}`);

const LOCAL_NAMES = ["IP:127.0.0.1", "DNS:localhost"];
const enc = new TextEncoder();
const dec = new TextDecoder();

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface TlsNode {
  manager: Manager;
  logger: ReturnType<typeof recordingLogger>;
}

/** Handler 1 answers "<local><-<caller>:<payload>", stream 2 does the same per message. */
function serve(manager: Manager, local: string): void {
  manager.registerSingle(1, (p, ctx) => enc.encode(`${local}<-${ctx.caller}:${dec.decode(p)}`));
  manager.registerStream(
    2,
    async function* (_p, input, ctx) {
      for await (const m of input!) yield enc.encode(`${local}<-${ctx.caller}:${dec.decode(m)}`);
    },
    { inCapacity: 4 },
  );
}

/** A Manager on `local` serving mutual TLS with `own`, trusting `ca` for its peers. */
async function tlsNode(local: string, hosts: string[], own: CertPair, ca: string, listen = true): Promise<TlsNode> {
  const logger = recordingLogger();
  const manager = new Manager({
    local,
    hosts,
    logger,
    dialer: createTcpDialer({ tls: { ...own, ca } }),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  serve(manager, local);
  cleanups.push(() => manager.close());
  if (listen) await manager.listen({ tls: { ...own, ca, requestCert: true, rejectUnauthorized: true } });
  return { manager, logger };
}

/** Addresses `wss://127.0.0.1:port/grid`, the first of which dials the second. */
async function dialPair(): Promise<[string, string]> {
  for (let i = 0; i < 50; i++) {
    const [x, y] = (await freePorts(2)).map((p) => `wss://127.0.0.1:${p}/grid`) as [string, string];
    if (shouldDial(x, y)) return [x, y];
    if (shouldDial(y, x)) return [y, x];
  }
  throw new Error("no dialling pair found");
}

function find(records: LogRecord[], message: string): LogRecord | undefined {
  return records.find((r) => r.message === message);
}

describe.skipIf(skip !== undefined)("TLS", () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki?.dispose());

  it("a 3-node mutual-TLS cluster (examples/operations/tls.ts) carries singles and bidi streams in every direction", async () => {
    const hosts = (await freePorts(3)).map((p) => `wss://127.0.0.1:${p}/grid`);
    const nodes = await Promise.all(
      hosts.map(async (local, i) => {
        const logger = recordingLogger();
        const manager = await startTlsServer(local, hosts, "a shared secret of the test cluster", { ...pki.issue(`node${i + 1}`, LOCAL_NAMES), ca: pki.ca }, (m) => serve(m, local), {
          logger,
          reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
        });
        cleanups.push(() => manager.close());
        return { manager, logger };
      }),
    );
    for (const [i, n] of nodes.entries()) {
      for (const [j, peer] of hosts.entries()) {
        if (i === j) continue;
        const conn = n.manager.connection(peer);
        await conn.waitConnected({ signal: AbortSignal.timeout(10_000) });
        expect(dec.decode(await conn.request(1, enc.encode("hi")))).toBe(`${peer}<-${hosts[i]}:hi`);
        const stream = await conn.newStream(2);
        const got: string[] = [];
        const reading = (async () => {
          for await (const m of stream.responses) got.push(dec.decode(m));
        })();
        for (let k = 0; k < 10; k++) await stream.requests!.send(enc.encode(String(k)));
        stream.requests!.close();
        await reading;
        expect(got).toEqual(Array.from({ length: 10 }, (_, k) => `${peer}<-${hosts[i]}:${k}`));
      }
    }
    for (const n of nodes) {
      expect(n.logger.records.filter((r) => r.level === "warn" || r.level === "error"), n.logger.text()).toEqual([]);
    }
  });

  /**
   * `intruder` dials `server`; both list each other, so only TLS can refuse. Returns both
   * sides' first log of the refusal once both logged it.
   */
  async function refused(opts: {
    intruderCert: CertPair;
    intruderCa: string;
    serverCert: CertPair;
  }): Promise<{ dialler: LogRecord; listener: LogRecord; intruder: string; server: string }> {
    const [intruder, server] = await dialPair();
    const hosts = [intruder, server];
    const s = await tlsNode(server, hosts, opts.serverCert, pki.ca);
    const x = await tlsNode(intruder, hosts, opts.intruderCert, opts.intruderCa, false);
    await until(() => find(x.logger.records, "cannot connect") !== undefined, 10_000, "the dialler's log");
    await until(
      () => find(s.logger.records, "TLS handshake with a peer failed") !== undefined || find(s.logger.records, "TLS connection closed before its WebSocket upgrade") !== undefined,
      10_000,
      "the listener's log",
    );
    expect(x.manager.connection(server).state).not.toBe("connected");
    expect(s.manager.connection(intruder).state).not.toBe("connected");
    const listener = find(s.logger.records, "TLS handshake with a peer failed") ?? find(s.logger.records, "TLS connection closed before its WebSocket upgrade")!;
    return { dialler: find(x.logger.records, "cannot connect")!, listener, intruder, server };
  }

  it("a node whose certificate comes from another CA never joins; both sides log why", async () => {
    const other = pki.foreign("intruder", LOCAL_NAMES);
    const { dialler, listener, server } = await refused({ intruderCert: other, intruderCa: pki.ca, serverCert: pki.issue("server", LOCAL_NAMES) });
    console.log(`another CA — dialler: ${JSON.stringify(dialler.fields)}\n  listener: ${JSON.stringify(listener.fields)}`);
    expect(dialler.fields?.peer).toBe(server);
    // The listener closes without an alert: the dialler can only say so, and point at its log.
    expect(String(dialler.fields?.error)).toMatch(/socket hang up/);
    expect(String(dialler.fields?.hint)).toMatch(/may have refused this server's certificate/);
    expect(listener.message).toBe("TLS handshake with a peer failed");
    expect(listener.fields?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(String(listener.fields?.reason)).toMatch(/client certificate was refused: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  });

  it("an expired certificate is refused; both sides log why", async () => {
    const expired = pki.issueExpired("intruder", LOCAL_NAMES);
    const { dialler, listener, server } = await refused({ intruderCert: expired, intruderCa: pki.ca, serverCert: pki.issue("server", LOCAL_NAMES) });
    console.log(`expired — dialler: ${JSON.stringify(dialler.fields)}\n  listener: ${JSON.stringify(listener.fields)}`);
    expect(dialler.fields?.peer).toBe(server);
    expect(String(dialler.fields?.hint)).toMatch(/may have refused this server's certificate/);
    expect(String(listener.fields?.reason)).toMatch(/client certificate was refused: CERT_HAS_EXPIRED/);
    expect(listener.fields?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("a dialler without a client certificate is refused; both sides log why", async () => {
    const [intruder, server] = await dialPair();
    const hosts = [intruder, server];
    const s = await tlsNode(server, hosts, pki.issue("server", LOCAL_NAMES), pki.ca);
    const logger = recordingLogger();
    const x = new Manager({ local: intruder, hosts, logger, dialer: createTcpDialer({ tls: { ca: pki.ca } }), reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    cleanups.push(() => x.close());
    await until(() => find(logger.records, "cannot connect") !== undefined, 10_000, "the dialler's log");
    await until(() => find(s.logger.records, "TLS handshake with a peer failed") !== undefined, 10_000, "the listener's log");
    const dialler = find(logger.records, "cannot connect")!;
    const listener = find(s.logger.records, "TLS handshake with a peer failed")!;
    console.log(`no client certificate — dialler: ${JSON.stringify(dialler.fields)}\n  listener: ${JSON.stringify(listener.fields)}`);
    expect(dialler.fields?.peer).toBe(server);
    expect(String(dialler.fields?.error)).toMatch(/certificate required|handshake failure/i);
    expect(listener.fields?.reason).toBe("peer did not return a certificate");
    expect(listener.fields?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("a server certificate that does not cover the dialled host name is refused; both sides log why", async () => {
    const { dialler, listener, server } = await refused({
      intruderCert: pki.issue("client", LOCAL_NAMES),
      intruderCa: pki.ca,
      serverCert: pki.issue("server", ["DNS:elsewhere.example"]),
    });
    console.log(`wrong host name — dialler: ${JSON.stringify(dialler.fields)}\n  listener: ${JSON.stringify(listener.fields)}`);
    expect(dialler.fields?.peer).toBe(server);
    expect(String(dialler.fields?.error)).toMatch(/does not match certificate's altnames/i);
    expect(listener.message).toBe("TLS handshake with a peer failed");
    expect(listener.fields?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(String(listener.fields?.reason)).toMatch(/closed the connection during the TLS handshake \(it may have refused this server's certificate/);
  });
});

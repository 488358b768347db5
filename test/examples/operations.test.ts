/**
 * docs/operations.md and docs/auth.md, checked against the code: the examples they quote run
 * here and do what the docs say, and every option, default, state and stats field the
 * docs' tables list is compared with the runtime's own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createHmac, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  DisconnectedError,
  Manager,
  sharedSecretAuth,
  shouldDial,
  silentLogger,
  tcpDialer,
  type BackoffOptions,
  type ConnectionState,
  type ManagerOptions,
} from "tsgrid";
import { checkConnect, PROTOCOL_VERSION } from "../../runtime/cluster/handshake.js";
import { main as cluster } from "../../examples/operations/cluster.js";
import { main as observability, summary } from "../../examples/operations/observability.js";
import { main as auth } from "../../examples/operations/auth.js";

const root = new URL("../../", import.meta.url);
const operationsMd = readFileSync(new URL("docs/operations.md", root), "utf8");
const authMd = readFileSync(new URL("docs/auth.md", root), "utf8");

// Managers built without a logger use consoleLogger(), which reads its level here.
beforeAll(() => void vi.stubEnv("TSGRID_LOG_LEVEL", "silent"));
afterAll(() => void vi.unstubAllEnvs());

/** The rows of the first table under `## heading` (or `### heading`): cells, backticks kept. */
function table(markdown: string, heading: string, nth = 0): string[][] {
  const lines = markdown.split("\n");
  let i = lines.findIndex((l) => /^#{2,3} /.test(l) && l.replace(/^#+ /, "") === heading);
  if (i < 0) throw new Error(`no section "${heading}"`);
  const tables: string[][][] = [];
  for (i++; i < lines.length && !/^#{2,3} /.test(lines[i]!); i++) {
    if (!lines[i]!.startsWith("|")) continue;
    const rows: string[][] = [];
    for (; i < lines.length && lines[i]!.startsWith("|"); i++) {
      rows.push(lines[i]!.slice(1, -1).split(" | ").map((c) => c.trim()));
    }
    tables.push(rows.slice(2)); // header and separator
  }
  const rows = tables[nth];
  if (rows === undefined) throw new Error(`section "${heading}" has no table ${nth}`);
  return rows;
}

/** The backticked names of a table's first column (`a`, `b` in one cell counts both). */
const names = (rows: string[][]): string[] => rows.flatMap((r) => [...r[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));

describe("examples/operations", () => {
  it("cluster: three servers, one connection per pair, a call, an idempotent close", async () => {
    const run = await cluster();
    try {
      expect([...run.reply]).toEqual([1, 2, 3]);
      const [first, second, third] = run.managers as [Manager, Manager, Manager];
      // The closed Manager: its connection is closed for good and calls fail at once.
      expect(run.peer.state).toBe("closed");
      expect(first.close()).toBe(first.close());
      await expect(run.peer.request(1, new Uint8Array(1))).rejects.toBeInstanceOf(DisconnectedError);
      await expect(first.listen()).rejects.toBeInstanceOf(DisconnectedError);
      // The two others are connected to each other (whoever dialled) and serve calls.
      const conn = second.connection(run.hosts[2]!);
      await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
      expect([...(await third.connection(run.hosts[1]!).request(1, new Uint8Array([7])))]).toEqual([7]);
      // `connection(host)` is the same object for ever; unknown hosts and itself are refused.
      expect(second.connection(run.hosts[2]!)).toBe(conn);
      expect(() => second.connection("ws://127.0.0.1:1/other")).toThrow(RangeError);
      expect(() => second.connection(run.hosts[1]!)).toThrow(RangeError);
      expect(second.peers).toEqual([run.hosts[0], run.hosts[2]]);
      // Exactly one side of each pair dials.
      for (const a of run.hosts) for (const b of run.hosts) if (a !== b) expect(shouldDial(a, b)).toBe(!shouldDial(b, a));
    } finally {
      await run.close();
    }
  });

  it("observability: state events, stats and trace records", async () => {
    const run = await observability();
    const [, other] = run.hosts as [string, string];
    // State events: the gauge went up, then down when the peer closed, with the reason logged.
    expect(run.gauges.get(`grid_peer_up{peer="${other}"}`)).toBe(0);
    expect(run.warnings.some((w) => w.startsWith(`${other}: connected -> disconnected: [disconnected]`))).toBe(true);
    expect(run.states).toContain("connected -> disconnected");
    expect(run.states.some((s) => s.endsWith("-> connected"))).toBe(true);
    // Stats: 3 echo + 1 failing + 1 stream started by this side, none served, nothing open.
    const { statsBefore: before, statsAfter: after } = run;
    expect(after.callsOut - before.callsOut).toBe(5);
    expect(after.callsIn - before.callsIn).toBe(0);
    expect(after.inFlight).toBe(0);
    expect(after.bytesOut - before.bytesOut).toBeGreaterThan(300);
    expect(after.bytesIn).toBeGreaterThan(before.bytesIn);
    expect(after.framesOut).toBeGreaterThan(before.framesOut);
    expect(after.messagesIn).toBeGreaterThan(before.messagesIn);
    expect(after.framesIn).toBeGreaterThanOrEqual(after.messagesIn); // a Merged message counts its frames
    // Trace: one record per finished call, both directions, success and failure.
    const out = (id: number) => run.calls.get(`out ${id}`);
    const inn = (id: number) => run.calls.get(`in ${id}`);
    expect(out(1)).toMatchObject({ count: 3, errors: 0, bytesOut: 300, bytesIn: 300 });
    expect(inn(1)).toMatchObject({ count: 3, errors: 0, bytesOut: 300, bytesIn: 300 });
    expect(out(2)).toMatchObject({ count: 1, errors: 1 });
    expect(inn(2)).toMatchObject({ count: 1, errors: 1 });
    expect(out(3)).toMatchObject({ count: 1, errors: 0, bytesIn: 5 });
    expect(inn(3)).toMatchObject({ count: 1, errors: 0, bytesOut: 5 });
    const failed = run.records.find((r) => r.handler === 2 && r.direction === "out");
    expect(failed?.error?.code).toBe("remote");
    expect(failed?.peer).toBe(other);
    expect(run.records.find((r) => r.handler === 3)?.kind).toBe("stream");
    expect(run.records.every((r) => r.durationMs >= 0 && r.subroute === undefined)).toBe(true);
    expect(summary(run.calls)).toContain("out echo: 3 calls, 0 errors, 300 B out, 300 B in");
  });

  it("auth: a shared secret connects; a rotation in progress connects; a stranger is refused both ways", async () => {
    const run = await auth();
    expect(run.sharedSecretConnected).toBe(true);
    expect(run.rotationConnected).toBe(true);
    for (const good of [run.rotated, run.pending]) {
      const seen = run.refusals.find((r) => (r.at === good && r.peer === run.stranger) || (r.at === run.stranger && r.peer === good));
      // The dialling side learns the listening side's reason (docs/auth.md, docs/operations.md).
      expect(seen?.code).toBe("unauthenticated");
      expect(seen?.message).toMatch(/^\[unauthenticated\] refused by ws:\/\/\S+: bad auth token from ws:\/\/\S+$/);
    }
    const messages = new Set(run.errorLogs.map((l) => l.message));
    expect(messages.has("handshake refused")).toBe(true); // dialling side
    expect(messages.has("refused a connection")).toBe(true); // listening side
    // No token ever reaches the logger.
    expect(JSON.stringify(run.errorLogs)).not.toMatch(/v1\.[0-9a-z]+\./);
  });
});

describe("docs/auth.md states what sharedSecretAuth does", () => {
  it("a token built by the documented formula verifies, for its challenge only", () => {
    const formula = 'mac = HMAC-SHA256(secret, "tsgrid-auth-v2\\n" + from + "\\n" + to + "\\n" + challenge)';
    expect(authMd).toContain(formula);
    const [secret, from, to] = ["s3cret", "ws://a:1/grid", "ws://b:1/grid"];
    const challenge = randomBytes(18).toString("base64url");
    const mac = createHmac("sha256", secret).update(`tsgrid-auth-v2\n${from}\n${to}\n${challenge}`).digest("base64url");
    const token = `v2.${mac}`;
    const verifier = sharedSecretAuth(secret);
    expect(verifier.verify(token, to, from, challenge)).toBe(false); // reflected: the direction is bound
    expect(verifier.verify(token, from, to, challenge)).toBe(true);
    expect(verifier.verify(token, from, to, randomBytes(18).toString("base64url"))).toBe(false); // replayed on another link
  });
});

describe("docs/operations.md tables match the runtime", () => {
  type OptionName = Exclude<keyof ManagerOptions, "reconnect"> | `reconnect.${keyof BackoffOptions}`;

  /** Every option as a Manager resolved it (read from its fields: the resolved values are not public). */
  function resolved(manager: Manager): Record<OptionName, unknown> {
    const field = (name: string): unknown => Reflect.get(manager, name);
    const options = manager.connection(manager.peers[0]!).options;
    const backoff = field("backoff") as BackoffOptions;
    const policy = field("policy") as { maxClockSkewMs: number };
    return {
      local: manager.local,
      hosts: undefined,
      auth: field("auth"),
      dialer: field("dialer"),
      dialTimeoutMs: field("dialTimeoutMs"),
      maskFrames: field("maskFrames"),
      handshakeTimeoutMs: field("handshakeTimeoutMs"),
      maxPendingHandshakes: field("maxPendingHandshakes"),
      maxPendingHandshakesPerAddress: field("maxPendingHandshakesPerAddress"),
      maxPreAuthBytes: field("maxPreAuthBytes"),
      firstMessageTimeoutMs: field("firstMessageTimeoutMs"),
      refusalLogIntervalMs: field("refusalLogIntervalMs"),
      maxClockSkewMs: policy.maxClockSkewMs,
      closeTimeoutMs: field("closeTimeoutMs"),
      "reconnect.initialDelayMs": backoff.initialDelayMs,
      "reconnect.refusedDelayMs": backoff.refusedDelayMs,
      "reconnect.maxDelayMs": backoff.maxDelayMs,
      "reconnect.multiplier": backoff.multiplier,
      "reconnect.jitter": backoff.jitter,
      instanceId: manager.instanceId,
      defaultTimeoutMs: options.defaultTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs,
      streamPingIntervalMs: options.streamPingIntervalMs,
      streamTimeoutMs: options.streamTimeoutMs,
      maxMessageBytes: options.maxMessageBytes,
      maxQueuedBytes: options.maxQueuedBytes,
      maxMergeBytes: options.maxMergeBytes,
      maxMergeFrames: options.maxMergeFrames,
      checksum: options.checksum,
      maxIncomingCalls: options.maxIncomingCalls,
      maxIncomingBytes: options.maxIncomingBytes,
      maxIncomingStreams: options.maxIncomingStreams,
      maxUnreadStreamBytes: options.maxUnreadStreamBytes,
      writeTimeoutMs: options.writeTimeoutMs,
      streamYieldMessages: options.streamYieldMessages,
      streamYieldBytes: options.streamYieldBytes,
      maxStreamFaults: options.maxStreamFaults,
      deadlineResolutionMs: options.deadlineResolutionMs,
      roomPollMs: options.roomPollMs,
      maxMetadataBytes: options.maxMetadataBytes,
      interceptors: options.interceptors,
      logger: options.logger,
      trace: options.trace,
    };
  }

  /** What a documented default means, checked against the resolved value. */
  function checkDefault(name: string, doc: string, value: unknown): void {
    const text = doc.replace(/\s*\(.*\)$/, ""); // "60 000 (deadline of ...)" -> "60 000"
    const size = /^([\d ]+(?:\.\d+)?)(?: (KiB|MiB))?$/.exec(text);
    if (size) {
      const unit = size[2] === "MiB" ? 1024 * 1024 : size[2] === "KiB" ? 1024 : 1;
      expect(value, `${name}: documented ${doc}`).toBe(Number(size[1]!.replace(/ /g, "")) * unit);
    } else if (text === "false" || text === "true") {
      expect(value, name).toBe(text === "true");
    } else if (text === "none") {
      expect(value, name).toBeUndefined();
    } else if (text === "—") {
      expect(["local", "hosts"], `${name} is documented as required`).toContain(name);
    } else if (text === "`tcpDialer`") {
      expect(value, name).toBe(tcpDialer);
    } else if (text === "random UUID") {
      expect(value, name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    } else if (text === "`consoleLogger()`") {
      expect(value, name).not.toBe(silentLogger);
      expect(Object.keys(value as object).sort(), name).toEqual(["debug", "error", "info", "warn"]);
    } else {
      throw new Error(`${name}: the test does not know what the default "${doc}" means`);
    }
  }

  it("Options: every option is listed once, with the default the runtime applies", async () => {
    const rows = [...table(operationsMd, "Options", 0), ...table(operationsMd, "Options", 1)];
    const local = "ws://127.0.0.1:1/grid";
    // Built with nothing but the required options, so every other value is a default.
    const manager = new Manager({ local, hosts: [local, "ws://127.0.0.1:2/grid"] });
    try {
      const actual = resolved(manager);
      expect(names(rows).sort()).toEqual(Object.keys(actual).sort());
      for (const row of rows) {
        const name = names([row])[0]!;
        checkDefault(name, row[1]!, actual[name as OptionName]);
      }
    } finally {
      await manager.close();
    }
  });

  it("Lifecycle: the states are ConnectionState's", () => {
    const states: Record<ConnectionState, true> = { disconnected: true, connecting: true, connected: true, closed: true };
    expect(names(table(operationsMd, "Lifecycle of a connection")).sort()).toEqual(Object.keys(states).sort());
  });

  it("Stats: the fields are ConnectionStats'", async () => {
    const local = "ws://127.0.0.1:1/grid";
    const manager = new Manager({ local, hosts: [local, "ws://127.0.0.1:2/grid"], logger: silentLogger });
    try {
      const stats = manager.connection(manager.peers[0]!).stats;
      expect(names(table(operationsMd, "Stats")).sort()).toEqual(Object.keys(stats).sort());
    } finally {
      await manager.close();
    }
  });

  it("Logs: every event the runtime logs at info and above is listed at its level, and nothing else", () => {
    const documented = new Set(
      table(operationsMd, "Logs").flatMap(([level, events]) => [...events!.matchAll(/`([^`]+)`/g)].map((m) => `${level} ${m[1]}`)),
    );
    const logged = new Set<string>();
    for (const dir of ["runtime/cluster", "runtime/connection", "runtime/mux", "runtime/handlers", "runtime/transport"]) {
      for (const file of readdirSync(new URL(dir, root))) {
        if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
        const text = readFileSync(new URL(`${dir}/${file}`, root), "utf8");
        for (const [, level, event] of text.matchAll(/[lL]ogger\.(info|warn|error)\(\s*"([^"]+)"/g)) logged.add(`${level} ${event}`);
      }
    }
    expect(logged.size).toBeGreaterThan(10);
    // Backticked words that are not events: option names quoted in the table's notes.
    const notes = new Set([
      "warn maxPendingHandshakes",
      "warn maxPendingHandshakesPerAddress",
      "warn maxPreAuthBytes",
      "warn firstMessageTimeoutMs",
      "warn suppressed",
      "warn pingTimeoutMs",
      "warn Connection",
      "error listen()",
    ]);
    expect([...documented].filter((e) => !notes.has(e)).sort()).toEqual([...logged].sort());
  });

  it("auth.md: each refusal in the handshake table is the one checkConnect gives", async () => {
    const rows = table(authMd, "What is checked at the handshake");
    const [a, b] = ["ws://a:1/grid", "ws://b:1/grid"];
    const policy = { local: b, hosts: new Set([a, b]), maxClockSkewMs: 300_000, auth: sharedSecretAuth("s"), now: Date.now };
    const req = { version: PROTOCOL_VERSION, from: a, to: b, instanceId: "x", time: Date.now(), token: "", challenge: "c" };
    const ch = "listener-challenge";
    const throwing = { ...policy, auth: { token: () => "", verify: (): boolean => { throw new Error("boom"); } } };
    const refusals = [
      await checkConnect({ ...req, version: PROTOCOL_VERSION + 1 }, policy, ch),
      await checkConnect({ ...req, to: a }, policy, ch),
      await checkConnect({ ...req, from: "ws://c:1/grid" }, policy, ch),
      await checkConnect({ ...req, time: Date.now() - 300_001 }, policy, ch),
      await checkConnect(req, throwing, ch),
    ];
    expect(await checkConnect({ ...req, token: await sharedSecretAuth("s").token(b, a, ch) }, policy, ch)).toBeUndefined();
    expect(rows).toHaveLength(refusals.length + 1); // the last row (dial direction) is the Manager's: test/cluster
    refusals.forEach((refusal, i) => {
      const [, code, reason] = /^`(\w+)`: (.*)$/.exec(rows[i]![1]!)!;
      expect(refusal?.code, rows[i]![0]).toBe(code);
      // "protocol version N is not supported", "clock skew of … ms exceeds the limit": N and … stand for anything.
      const pattern = reason!.split(/ ?(?:…|\bN\b) ?/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
      expect(refusal?.rawMessage, rows[i]![0]).toMatch(new RegExp(`^${pattern}`));
    });
    expect(authMd).toContain(`\`maxClockSkewMs\` (5 min)`);
  });
});

/**
 * tsgrid/otel over real sockets: three Managers on 127.0.0.1, each with its OWN tracer
 * provider and in-memory exporter, so the only thing that joins their spans into one trace
 * is the context the calls carry in their metadata.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, Sampler } from "@opentelemetry/sdk-trace-base";
import { AbortError, Manager, silentLogger } from "tsgrid";
import type { HandlerContext } from "tsgrid";
import { otelInterceptors } from "tsgrid/otel";
import { freePorts } from "../cluster/helpers.js";

const FRONT_GET = 1; // on B: calls C's BACK_GET and reads C's BACK_LIST
const BACK_GET = 2; // on C
const BACK_LIST = 3; // on C: a stream of 3 messages
const FRONT_FAIL = 4; // on B: throws
const FRONT_WAIT = 5; // on B: waits for its signal
const FRONT_FEED = 6; // on B: a stream whose generator calls C between yields

interface Node {
  manager: Manager;
  exporter: InMemorySpanExporter;
  provider: BasicTracerProvider;
}

const propagator = new W3CTraceContextPropagator();
const contextManager = new AsyncLocalStorageContextManager();
let nodes: Node[] = [];
let hosts: string[] = [];

beforeAll(() => {
  // The context API is global: AsyncLocalStorage, so a handler's awaits keep its span.
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

/** `samplers[i]`: node i's sampler (default: the SDK's, ParentBased(AlwaysOn)). */
async function cluster(samplers: (Sampler | undefined)[] = []): Promise<[Node, Node, Node]> {
  hosts = (await freePorts(3)).map((p) => `ws://127.0.0.1:${p}/grid`);
  nodes = hosts.map((local, i) => {
    const exporter = new InMemorySpanExporter();
    const sampler = samplers[i];
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)], ...(sampler && { sampler }) });
    const manager = new Manager({
      local,
      hosts,
      logger: silentLogger,
      interceptors: otelInterceptors({ tracerProvider: provider, propagator }),
    });
    return { manager, exporter, provider };
  });
  const [a, b, c] = nodes as [Node, Node, Node];
  const [, hb, hc] = hosts as [string, string, string];
  const enc = new TextEncoder();

  c.manager.registerSingle(BACK_GET, (p) => p, { name: "Back.get" });
  c.manager.registerStream(
    BACK_LIST,
    async function* () {
      for (let i = 0; i < 3; i++) yield enc.encode(`item${i}`);
    },
    { name: "Back.list" },
  );
  const toC = b.manager.connection(hc);
  toC.nameHandlers("Back", { get: BACK_GET, list: BACK_LIST });
  b.manager.registerSingle(
    FRONT_GET,
    async (payload) => {
      const got = await toC.request(BACK_GET, payload);
      const stream = await toC.newStream(BACK_LIST);
      let n = 0;
      for await (const _ of stream.responses) n++;
      return enc.encode(`${new TextDecoder().decode(got)}+${n}`);
    },
    { name: "Front.get" },
  );
  b.manager.registerSingle(
    FRONT_FAIL,
    () => {
      throw new Error("disk full");
    },
    { name: "Front.fail" },
  );
  b.manager.registerSingle(
    FRONT_WAIT,
    (_p, ctx: HandlerContext) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    { name: "Front.wait" },
  );
  b.manager.registerStream(
    FRONT_FEED,
    async function* () {
      yield enc.encode("first");
      // Runs when the caller pulls the next message: still inside the server span.
      yield await toC.request(BACK_GET, enc.encode("from-stream"));
    },
    { name: "Front.feed" },
  );
  a.manager.connection(hb).nameHandlers("Front", { get: FRONT_GET, fail: FRONT_FAIL, wait: FRONT_WAIT, feed: FRONT_FEED });
  await Promise.all(nodes.map((n) => n.manager.listen()));
  const signal = AbortSignal.timeout(10_000);
  await Promise.all([a.manager.connection(hb).waitConnected({ signal }), toC.waitConnected({ signal })]);
  return [a, b, c];
}

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.manager.close()));
  await Promise.all(nodes.map((n) => n.provider.shutdown()));
  nodes = [];
});

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function one(node: Node, name: string, kind: SpanKind): ReadableSpan {
  const found = node.exporter.getFinishedSpans().filter((s) => s.name === name && s.kind === kind);
  if (found.length !== 1) {
    throw new Error(`${found.length} ${SpanKind[kind]} spans named ${name}; have ${node.exporter.getFinishedSpans().map((s) => `${SpanKind[s.kind]} ${s.name}`).join(", ")}`);
  }
  return found[0]!;
}

const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe("tsgrid/otel: one trace across three nodes", () => {
  it("A -> B -> C (a single and a stream): one trace, every span parented on the one that caused it", async () => {
    const [a, b, c] = await cluster();
    const tracer = a.provider.getTracer("test");
    const answer = await tracer.startActiveSpan("root", async (root) => {
      try {
        return await a.manager.connection(hosts[1]!).request(FRONT_GET, new TextEncoder().encode("x"));
      } finally {
        root.end();
      }
    });
    expect(new TextDecoder().decode(answer)).toBe("x+3");
    await until(() => c.exporter.getFinishedSpans().length === 2 && b.exporter.getFinishedSpans().length === 3);

    const root = one(a, "root", SpanKind.INTERNAL);
    const aClient = one(a, "Front/get", SpanKind.CLIENT);
    const bServer = one(b, "Front/get", SpanKind.SERVER);
    const bGet = one(b, "Back/get", SpanKind.CLIENT);
    const bList = one(b, "Back/list", SpanKind.CLIENT);
    const cGet = one(c, "Back/get", SpanKind.SERVER);
    const cList = one(c, "Back/list", SpanKind.SERVER);
    const all = [root, aClient, bServer, bGet, bList, cGet, cList];

    // One trace on all three nodes.
    expect(new Set(all.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(new Set(all.map((s) => s.spanContext().spanId)).size).toBe(all.length);
    // Parents: root <- A client <- B server <- B clients <- C servers.
    expect(parentOf(root)).toBeUndefined();
    expect(parentOf(aClient)).toBe(root.spanContext().spanId);
    expect(parentOf(bServer)).toBe(aClient.spanContext().spanId);
    expect(parentOf(bGet)).toBe(bServer.spanContext().spanId);
    expect(parentOf(bList)).toBe(bServer.spanContext().spanId);
    expect(parentOf(cGet)).toBe(bGet.spanContext().spanId);
    expect(parentOf(cList)).toBe(bList.spanContext().spanId);
    expect(bServer.parentSpanContext?.isRemote).toBe(true);

    // RPC semantic conventions.
    expect(aClient.attributes).toMatchObject({ "rpc.system": "tsgrid", "rpc.service": "Front", "rpc.method": "get", "tsgrid.handler.id": FRONT_GET, "tsgrid.peer": hosts[1], "server.address": "127.0.0.1", "server.port": Number(new URL(hosts[1]!).port) });
    expect(bServer.attributes).toMatchObject({ "rpc.system": "tsgrid", "rpc.service": "Front", "rpc.method": "get", "tsgrid.peer": hosts[0] });
    expect(cList.attributes).toMatchObject({ "rpc.service": "Back", "rpc.method": "list", "tsgrid.messages.sent": 3, "tsgrid.messages.received": 0 });
    for (const s of all.slice(1)) expect(s.status.code).toBe(SpanStatusCode.UNSET);
    // Message events on the stream, both ends.
    const sent = cList.events.filter((e) => e.name === "rpc.message");
    expect(sent.map((e) => e.attributes?.["rpc.message.type"])).toEqual(["SENT", "SENT", "SENT"]);
    expect(sent.map((e) => e.attributes?.["rpc.message.id"])).toEqual([1, 2, 3]);
    expect(sent[0]!.attributes?.["rpc.message.uncompressed_size"]).toBe(5);
    expect(bList.events.map((e) => e.attributes?.["rpc.message.type"])).toEqual(["RECEIVED", "RECEIVED", "RECEIVED"]);
    expect(bGet.events).toHaveLength(0); // singles carry no message events
    // Timing: each child inside its parent (same clock within a process).
    const t = (s: ReadableSpan) => s.startTime[0] * 1e9 + s.startTime[1];
    expect(t(bGet)).toBeGreaterThanOrEqual(t(bServer));
  });

  it("a trace the caller did not sample: nothing recorded anywhere, yet the decision reaches the handler's own calls (singles and streams)", async () => {
    // A samples no root; B and C sample whatever their parent did (the SDK's default), so a
    // span on B or C would mean B's handler ran outside the call's context.
    const [a, b, c] = await cluster([new ParentBasedSampler({ root: new AlwaysOffSampler() })]);
    const toB = a.manager.connection(hosts[1]!);
    expect(new TextDecoder().decode(await toB.request(FRONT_GET, new TextEncoder().encode("x")))).toBe("x+3");
    const got: string[] = [];
    for await (const m of (await toB.newStream(FRONT_FEED)).responses) got.push(new TextDecoder().decode(m));
    expect(got).toEqual(["first", "from-stream"]);
    await expect(toB.request(FRONT_FAIL, new Uint8Array(0))).rejects.toThrow(/disk full/);
    await new Promise((r) => setTimeout(r, 50));
    // (With A's default sampler the same calls record 7 spans: the test above.)
    for (const n of [a, b, c]) expect(n.exporter.getFinishedSpans()).toEqual([]);
  });

  it("a call without an active span starts a trace; the server's span is its child", async () => {
    const [a, b] = await cluster();
    await a.manager.connection(hosts[1]!).request(FRONT_GET, new Uint8Array([1]));
    await until(() => b.exporter.getFinishedSpans().length === 3);
    const aClient = one(a, "Front/get", SpanKind.CLIENT);
    expect(parentOf(aClient)).toBeUndefined();
    expect(parentOf(one(b, "Front/get", SpanKind.SERVER))).toBe(aClient.spanContext().spanId);
  });

  it("a stream handler's calls made between yields are children of its server span", async () => {
    const [a, b, c] = await cluster();
    const stream = await a.manager.connection(hosts[1]!).newStream(FRONT_FEED);
    const got: string[] = [];
    for await (const m of stream.responses) got.push(new TextDecoder().decode(m));
    expect(got).toEqual(["first", "from-stream"]);
    await until(() => c.exporter.getFinishedSpans().length === 1 && b.exporter.getFinishedSpans().length === 2);
    const aClient = one(a, "Front/feed", SpanKind.CLIENT);
    const bServer = one(b, "Front/feed", SpanKind.SERVER);
    const bGet = one(b, "Back/get", SpanKind.CLIENT);
    expect(parentOf(bServer)).toBe(aClient.spanContext().spanId);
    expect(parentOf(bGet)).toBe(bServer.spanContext().spanId);
    expect(parentOf(one(c, "Back/get", SpanKind.SERVER))).toBe(bGet.spanContext().spanId);
    expect(aClient.attributes["tsgrid.messages.received"]).toBe(2);
  });

  it("status from the error code: a handler's error marks both spans; a caller's cancel marks only the client's", async () => {
    const [a, b] = await cluster();
    const conn = a.manager.connection(hosts[1]!);
    await expect(conn.request(FRONT_FAIL, new Uint8Array(0))).rejects.toMatchObject({ code: "remote" });
    const ac = new AbortController();
    const waiting = conn.request(FRONT_WAIT, new Uint8Array(0), { signal: ac.signal });
    await until(() => b.manager.connection(hosts[0]!).stats.inFlight === 1);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    await until(() => b.exporter.getFinishedSpans().length === 2);

    const failClient = one(a, "Front/fail", SpanKind.CLIENT);
    const failServer = one(b, "Front/fail", SpanKind.SERVER);
    for (const s of [failClient, failServer]) {
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes).toMatchObject({ "rpc.tsgrid.error_code": "remote", "error.type": "remote" });
    }
    expect(failClient.status.message).toContain("disk full");

    const waitClient = one(a, "Front/wait", SpanKind.CLIENT);
    const waitServer = one(b, "Front/wait", SpanKind.SERVER);
    expect(waitClient.status.code).toBe(SpanStatusCode.ERROR);
    expect(waitClient.attributes["rpc.tsgrid.error_code"]).toBe("aborted");
    expect(waitServer.status.code).toBe(SpanStatusCode.UNSET); // the caller's choice, not a server fault
    expect(waitServer.attributes["rpc.tsgrid.error_code"]).toBe("aborted");
  });

  it("uses the global tracer provider and propagator by default", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    expect(propagation.setGlobalPropagator(propagator)).toBe(true);
    const ports = await freePorts(2);
    const [h0, h1] = ports.map((p) => `ws://127.0.0.1:${p}/grid`) as [string, string];
    const [m0, m1] = [h0, h1].map((local) => new Manager({ local, hosts: [h0, h1], logger: silentLogger, interceptors: otelInterceptors() })) as [Manager, Manager];
    try {
      m1.registerSingle(9, (p) => p, { name: "Echo.echo" });
      await Promise.all([m0.listen(), m1.listen()]);
      await m0.connection(h1).waitConnected({ signal: AbortSignal.timeout(5_000) });
      m0.connection(h1).nameHandlers("Echo", { echo: 9 });
      await m0.connection(h1).request(9, new Uint8Array(3));
      await until(() => exporter.getFinishedSpans().length === 2);
      const spans = exporter.getFinishedSpans();
      const client = spans.find((s) => s.kind === SpanKind.CLIENT);
      const server = spans.find((s) => s.kind === SpanKind.SERVER);
      expect(client?.name).toBe("Echo/echo");
      expect(parentOf(server!)).toBe(client!.spanContext().spanId);
    } finally {
      await Promise.all([m0.close(), m1.close()]);
      trace.disable();
      propagation.disable();
      await provider.shutdown();
    }
  });
});

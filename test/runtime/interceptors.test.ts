/** Client and server interceptors over a real WebSocket: order, what they see, rejection, streams. */
import { afterEach, describe, expect, it } from "vitest";
import { AbortError, ErrorCode, GridError, RemoteError, UnauthenticatedError } from "../../runtime/errors.js";
import type { ClientInterceptor, ServerInterceptor } from "../../runtime/interceptors.js";
import type { Stream } from "../../runtime/types.js";
import { bytes, makePair, text, until } from "./helpers.js";
import type { Pair } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

function tracingClient(log: string[], name: string): ClientInterceptor {
  return (next) => async (call) => {
    log.push(`${name}>`);
    try {
      return await next(call);
    } finally {
      log.push(`<${name}`);
    }
  };
}

function tracingServer(log: string[], name: string): ServerInterceptor {
  return (next) => async (call) => {
    log.push(`${name}>`);
    try {
      return await next(call);
    } finally {
      log.push(`<${name}`);
    }
  };
}

async function drainStream(s: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const m of s.responses) out.push(text(m));
  return out;
}

describe("interceptors", () => {
  it("run in order on both sides: configured ones outermost, then intercept() ones, then the handler", async () => {
    const log: string[] = [];
    pair = await makePair("ws", {
      interceptors: { client: [tracingClient(log, "c1"), tracingClient(log, "c2")], server: [tracingServer(log, "s1")] },
    });
    pair.a.intercept({ client: [tracingClient(log, "c3")] });
    pair.b.intercept({ server: [tracingServer(log, "s2")] });
    pair.rb.registerSingle(1, (p) => {
      log.push("handler");
      return p;
    });
    expect(text(await pair.a.request(1, bytes("x")))).toBe("x");
    await until(() => log.length === 11);
    // Client: c1 > c2 > c3 > [wire: s1 > s2 > handler] ...
    expect(log.filter((l) => l.includes("c"))).toEqual(["c1>", "c2>", "c3>", "<c3", "<c2", "<c1"]);
    expect(log.filter((l) => !l.includes("c"))).toEqual(["s1>", "s2>", "handler", "<s2", "<s1"]);
  });

  it("a client interceptor sees the call, adds metadata, and sees the outcome's code", async () => {
    pair = await makePair("ws");
    pair.rb.registerSingle(1, (p, ctx) => {
      if (text(p) === "fail") throw new Error("boom");
      return bytes(`${ctx.metadata["x-request-id"]}|${ctx.metadata["tenant"]}`);
    }, { name: "Echo.echo" });
    pair.a.nameHandlers("Echo", { echo: 1 });
    const seen: unknown[] = [];
    pair.a.intercept({
      client: [
        (next) => async (call) => {
          call.metadata["x-request-id"] = "rid-1";
          seen.push({
            side: call.side, stream: call.stream, handler: call.handler, name: call.handlerName, peer: call.peer,
            md: { ...call.metadata }, hasDeadline: typeof call.deadline === "number",
          });
          try {
            return await next(call);
          } catch (err) {
            seen.push((err as GridError).code);
            throw err;
          }
        },
      ],
    });
    const md = { tenant: "t1" };
    expect(text(await pair.a.request(1, bytes("ok"), { metadata: md, timeoutMs: 5000 }))).toBe("rid-1|t1");
    expect(md).toEqual({ tenant: "t1" }); // the caller's object is not changed
    await expect(pair.a.request(1, bytes("fail"))).rejects.toBeInstanceOf(RemoteError);
    expect(seen[0]).toEqual({
      side: "client", stream: false, handler: 1, name: "Echo.echo", peer: "b", md: { tenant: "t1", "x-request-id": "rid-1" }, hasDeadline: true,
    });
    expect(seen.at(-1)).toBe(ErrorCode.Remote);
  });

  it("a client interceptor that throws rejects the call; nothing is sent", async () => {
    pair = await makePair("ws");
    pair.rb.registerSingle(1, (p) => p);
    pair.rb.registerStream(2, async function* () {});
    pair.a.intercept({
      client: [
        (next) => (call) => {
          if (call.metadata["token"] !== "ok") throw new UnauthenticatedError("no token");
          return next(call);
        },
      ],
    });
    await expect(pair.a.request(1, bytes("x"))).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(pair.a.newStream(2)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(pair.b.stats.callsIn).toBe(0);
    expect(text(await pair.a.request(1, bytes("y"), { metadata: { token: "ok" } }))).toBe("y");
  });

  it("a server interceptor sees name, metadata, peer and deadline, and can reject singles and streams (the handler never runs)", async () => {
    pair = await makePair("ws");
    let ran = 0;
    pair.rb.registerSingle(1, (p) => (ran++, p), { name: "Echo.echo" });
    pair.rb.registerStream(2, async function* () {
      ran++;
      yield bytes("m");
    }, { name: "Echo.watch" });
    const seen: unknown[] = [];
    pair.b.intercept({
      server: [
        (next) => async (call) => {
          seen.push({ side: call.side, stream: call.stream, name: call.handlerName, peer: call.peer, md: { ...call.metadata }, deadline: call.deadline !== undefined });
          if (call.metadata["token"] !== "ok") throw new UnauthenticatedError(`no token for ${call.handlerName}`);
          return next(call);
        },
      ],
    });
    const single = pair.a.request(1, bytes("x"), { metadata: { token: "bad" } });
    await expect(single).rejects.toThrow(/^\[unauthenticated\] no token for Echo.echo$/);
    await expect(pair.a.newStream(2, undefined, { metadata: { token: "bad" } })).rejects.toThrow(/no token for Echo.watch/);
    expect(ran).toBe(0);
    expect(text(await pair.a.request(1, bytes("y"), { metadata: { token: "ok" } }))).toBe("y");
    expect(await drainStream(await pair.a.newStream(2, undefined, { metadata: { token: "ok" } }))).toEqual(["m"]);
    expect(ran).toBe(2);
    expect(seen[0]).toEqual({ side: "server", stream: false, name: "Echo.echo", peer: "a", md: { token: "bad" }, deadline: true });
    expect(seen[1]).toEqual({ side: "server", stream: true, name: "Echo.watch", peer: "a", md: { token: "bad" }, deadline: false });
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("stream observers count messages both ways and see the end: clean, or the code of a cancel", async () => {
    pair = await makePair("ws");
    pair.rb.registerStream(
      3,
      async function* (_p, input) {
        for await (const m of input!) yield m;
      },
      { inCapacity: 4 },
    );
    pair.rb.registerStream(4, async function* () {
      for (;;) {
        yield bytes("tick");
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const events: string[] = [];
    pair.a.intercept({
      client: [
        (next) => (call) => {
          if (call.stream) {
            call.observe({
              onMessage: (dir, n) => events.push(`client ${dir} ${n}`),
              onEnd: (err) => events.push(`client end ${err?.code ?? "ok"}`),
            });
          }
          return next(call);
        },
      ],
    });
    pair.b.intercept({
      server: [
        (next) => (call) => {
          if (call.stream) {
            call.observe({
              onMessage: (dir, n) => events.push(`server ${dir} ${n}`),
              onEnd: (err) => events.push(`server end ${err?.code ?? "ok"}`),
            });
          }
          return next(call);
        },
      ],
    });
    const echo = await pair.a.newStream(3);
    await echo.requests!.send(bytes("abc"));
    echo.requests!.close();
    expect(await drainStream(echo)).toEqual(["abc"]);
    await until(() => events.includes("server end ok") && events.includes("client end ok"));
    expect(events.filter((e) => e.startsWith("client") && !e.includes("end"))).toEqual(["client out 3", "client in 3"]);
    expect(events.filter((e) => e.startsWith("server") && !e.includes("end"))).toEqual(["server in 3", "server out 3"]);

    events.length = 0;
    const ticks = await pair.a.newStream(4);
    const it = ticks.responses[Symbol.asyncIterator]();
    await it.next();
    ticks.cancel(new Error("enough"));
    await until(() => events.includes("server end aborted") && events.includes("client end aborted"));
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });

  it("a server interceptor can time a stream: next resolves with the output, the end comes through observe", async () => {
    pair = await makePair("ws");
    pair.rb.registerStream(5, async function* () {
      yield bytes("a");
      throw new Error("mid-stream failure");
    });
    let outcome: string | undefined;
    pair.b.intercept({
      server: [
        (next) => async (call) => {
          if (call.stream) call.observe({ onEnd: (err) => (outcome = err?.code ?? "ok") });
          return next(call);
        },
      ],
    });
    const s = await pair.a.newStream(5);
    await expect(drainStream(s)).rejects.toThrow(/mid-stream failure/);
    await until(() => outcome !== undefined);
    expect(outcome).toBe(ErrorCode.Remote);
  });

  it("a stream cancelled while a server interceptor is still deciding never starts its handler", async () => {
    pair = await makePair("ws");
    let started = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    pair.rb.registerStream(6, async function* () {
      started = true;
      yield bytes("x");
    });
    pair.b.intercept({
      server: [
        (next) => async (call) => {
          await gate;
          return next(call);
        },
      ],
    });
    const controller = new AbortController();
    const opening = pair.a.newStream(6, undefined, { signal: controller.signal });
    await until(() => pair!.b.stats.inFlight === 1);
    controller.abort();
    await expect(opening).rejects.toBeInstanceOf(AbortError);
    await until(() => pair!.b.stats.inFlight === 0); // the cancel reached the server
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(started).toBe(false);
  });
});

describe("the interceptors of examples/operations/interceptors.ts", () => {
  it("request ids reach the handler; unknown tenants are refused; every call is logged with its name and outcome", async () => {
    const { accessLog, requestId } = await import("../../examples/operations/interceptors.js");
    const lines: string[] = [];
    pair = await makePair("ws", { interceptors: { client: [requestId] } });
    pair.b.intercept({ server: [accessLog(new Set(["acme"]), (l) => lines.push(l))] });
    pair.rb.registerSingle(1, (_p, ctx) => bytes(ctx.metadata["x-request-id"]!), { name: "Echo.id" });
    pair.rb.registerStream(2, async function* () {
      yield bytes("m");
    }, { name: "Echo.watch" });
    const id = text(await pair.a.request(1, bytes(""), { metadata: { tenant: "acme" } }));
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(text(await pair.a.request(1, bytes(""), { metadata: { tenant: "acme", "x-request-id": "mine" } }))).toBe("mine");
    await expect(pair.a.request(1, bytes(""), { metadata: { tenant: "evil" } })).rejects.toThrow(/^\[unauthenticated\] unknown tenant "evil"$/);
    expect(await drainStream(await pair.a.newStream(2, undefined, { metadata: { tenant: "acme", "x-request-id": "s1" } }))).toEqual(["m"]);
    await until(() => lines.length === 3);
    expect(lines[0]).toMatch(new RegExp(`^${id} Echo.id from a: ok in [\\d.]+ ms$`));
    expect(lines[1]).toMatch(/^mine Echo.id from a: ok in [\d.]+ ms$/);
    expect(lines[2]).toMatch(/^s1 Echo.watch from a: ok in [\d.]+ ms$/);
  });
});

/**
 * A handler's failure is reported usefully on both sides: the caller's error says what was
 * thrown or returned, and the server logs it (a bug is logged at error, once per shape).
 */
import { afterEach, describe, expect, it } from "vitest";
import { InvalidPayloadError, RemoteError } from "../../runtime/errors.js";
import type { Logger } from "../../runtime/types.js";
import { GreeterClient, registerGreeter, type GreeterServer } from "../../examples/quickstart/generated/greeter.js";
import { makePair, until, type Pair } from "../runtime/helpers.js";

interface Line {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void =>
      void lines.push({ level, message, fields });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe("handler failures", () => {
  it("a non-Error thrown value reaches the caller rendered, and the server logs it at error", async () => {
    const lines: Line[] = [];
    pair = await makePair("memory", { logger: recordingLogger(lines) });
    pair.rb.registerSingle(7, () => {
      throw { code: 42, reason: "busy" };
    });
    pair.rb.registerSingle(8, () => Promise.reject("just a string"));
    const err = await pair.a.request(7, bytes("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).message).toBe('[remote] handler 7 threw a non-Error value: {"code":42,"reason":"busy"}');
    const err2 = await pair.a.request(8, bytes("x")).catch((e: unknown) => e);
    expect((err2 as RemoteError).message).toBe('[remote] handler 8 threw a non-Error value: "just a string"');
    const logged = lines.filter((l) => l.fields?.["local"] === "b" && l.message === "handler failed");
    expect(logged.map((l) => [l.level, l.fields?.["handler"], l.fields?.["error"]])).toEqual([
      ["error", 7, '[remote] handler 7 threw a non-Error value: {"code":42,"reason":"busy"}'],
      ["error", 8, '[remote] handler 8 threw a non-Error value: "just a string"'],
    ]);
  });

  it("a generated handler that returns undefined: the caller gets the encoder's InvalidPayloadError naming the response type, the server logs it", async () => {
    const lines: Line[] = [];
    pair = await makePair("memory", { logger: recordingLogger(lines) });
    const broken = {
      hello: () => undefined,
      count: async function* () {},
      sum: async function* () {},
    } as unknown as GreeterServer;
    registerGreeter(pair.rb, broken);
    const client = new GreeterClient(pair.a);
    const err = await client.hello({ name: "x" }).catch((e: unknown) => e);
    // The generated encoder checks the result as the caller's decoder would, and names it.
    expect(err).toBeInstanceOf(InvalidPayloadError);
    expect((err as InvalidPayloadError).message).toBe("[invalid_payload] HelloReply: expected HelloReply, got undefined");
    const logged = lines.filter((l) => l.fields?.["local"] === "b" && l.message === "handler failed");
    expect(logged).toHaveLength(1);
    expect(["error", "warn"]).toContain(logged[0]!.level);
    expect(logged[0]!.fields?.["handler"]).toBe(1);
  });

  it("a raw handler that returns undefined or a string: named on both sides", async () => {
    const lines: Line[] = [];
    pair = await makePair("memory", { logger: recordingLogger(lines) });
    pair.rb.registerSingle(3, (() => undefined) as never);
    pair.rb.registerSingle(4, (async () => "text") as never);
    const err3 = await pair.a.request(3, bytes("x")).catch((e: unknown) => e);
    const err4 = await pair.a.request(4, bytes("x")).catch((e: unknown) => e);
    expect((err3 as RemoteError).message).toBe("[remote] handler 3 returned undefined, not a Uint8Array");
    expect((err4 as RemoteError).message).toBe("[remote] handler 4 returned string, not a Uint8Array");
    const logged = lines.filter((l) => l.fields?.["local"] === "b" && l.message === "handler failed");
    expect(logged.map((l) => [l.level, l.fields?.["error"]])).toEqual([
      ["error", "[remote] handler 3 returned undefined, not a Uint8Array"],
      ["error", "[remote] handler 4 returned string, not a Uint8Array"],
    ]);
  });

  it("a stream handler that throws a non-Error or yields a non-Uint8Array: named on both sides", async () => {
    const lines: Line[] = [];
    pair = await makePair("memory", { logger: recordingLogger(lines) });
    pair.rb.registerStream(5, async function* () {
      yield bytes("ok");
      throw { status: 500 };
    });
    pair.rb.registerStream(6, (async function* () {
      yield 12;
    }) as never);
    const s5 = await pair.a.newStream(5);
    const got: unknown[] = [];
    const err5 = await (async () => {
      for await (const m of s5.responses) got.push(m);
    })().catch((e: unknown) => e);
    expect(got).toHaveLength(1);
    expect((err5 as RemoteError).message).toBe('[remote] stream handler 5 threw a non-Error value: {"status":500}');
    const s6 = await pair.a.newStream(6);
    const err6 = await s6.responses[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect((err6 as RemoteError).message).toBe("[remote] stream handler 6 yielded number, not a Uint8Array");
    await until(() => lines.filter((l) => l.message === "handler failed").length === 2);
    expect(lines.filter((l) => l.message === "handler failed").map((l) => [l.level, l.fields?.["handler"]])).toEqual([
      ["error", 5],
      ["error", 6],
    ]);
  });

  it("an Error thrown on purpose is logged at debug only; the same bug again is logged at debug", async () => {
    const lines: Line[] = [];
    pair = await makePair("memory", { logger: recordingLogger(lines) });
    pair.rb.registerSingle(1, () => {
      throw new Error("no such key");
    });
    let n = 0;
    pair.rb.registerSingle(2, () => {
      throw { attempt: n++ };
    });
    expect(((await pair.a.request(1, bytes("x")).catch((e: unknown) => e)) as Error).message).toBe("[remote] no such key");
    for (let i = 0; i < 3; i++) await pair.a.request(2, bytes("x")).catch(() => {});
    const logged = lines.filter((l) => l.message === "handler failed").map((l) => [l.level, l.fields?.["handler"]]);
    expect(logged).toEqual([
      ["debug", 1],
      ["error", 2],
      ["debug", 2],
      ["debug", 2],
    ]);
  });
});

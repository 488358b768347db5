/**
 * runtime/codec/typed-stream.ts: the typed views of byte streams that generated code builds on
 * (stopping a mapped iterable stops its source, a failing map stops the source and reports,
 * a failure before the stream starts becomes the stream's error) and check.ts's error text.
 */
import { describe, expect, it } from "vitest";
import { InvalidPayloadError, ProtocolError, bidiStream, decodeInput, keyPath, mapAsyncIterable, mismatch, mismatchValue, serveStream, serverStream, typeOf } from "tsgrid";
import type { Stream } from "tsgrid";

/** A source that counts how it was stopped. */
function source(values: number[]): { iterable: AsyncIterable<number>; state: { returned: number } } {
  const state = { returned: 0 };
  async function* gen(): AsyncGenerator<number> {
    try {
      for (const v of values) yield v;
    } finally {
      state.returned++;
    }
  }
  return { iterable: gen(), state };
}

describe("typed streams", () => {
  it("maps each message and forwards return() to the source", async () => {
    const { iterable, state } = source([1, 2, 3]);
    const out: number[] = [];
    for await (const v of mapAsyncIterable(iterable, (x) => x * 10)) {
      out.push(v);
      if (v === 20) break;
    }
    expect(out).toEqual([10, 20]);
    expect(state.returned).toBe(1);
  });

  it("a failing map stops the source, tells the stream, and is the error the consumer sees", async () => {
    const { iterable, state } = source([1, 2, 3]);
    const cancels: unknown[] = [];
    const stream: Stream = {
      responses: (async function* () {
        for await (const v of iterable) yield new Uint8Array([v]);
      })(),
      cancel: (reason) => cancels.push(reason),
    };
    const typed = serverStream(stream, (b) => {
      if (b[0] === 2) throw new InvalidPayloadError("X.y: expected string, got number");
      return b[0];
    });
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const v of typed.responses) seen.push(v);
      })(),
    ).rejects.toThrow("X.y: expected string, got number");
    expect(seen).toEqual([1]);
    expect(cancels.length).toBe(1);
    expect(cancels[0]).toBeInstanceOf(InvalidPayloadError);
    await new Promise((r) => setTimeout(r, 0));
    expect(state.returned).toBe(1);
    typed.cancel("bye");
    expect(cancels[1]).toBe("bye");
  });

  it("serveStream turns a throw before the first message into the stream's error", async () => {
    const err = new InvalidPayloadError("Req: missing payload");
    const it1 = serveStream<number>(() => {
      throw err;
    }, () => new Uint8Array())[Symbol.asyncIterator]();
    await expect(it1.next()).rejects.toBe(err);
    const it2 = serveStream(() => 42 as unknown as AsyncIterable<number>, () => new Uint8Array())[Symbol.asyncIterator]();
    await expect(it2.next()).rejects.toBeInstanceOf(TypeError);
  });

  it("decodeInput of no input is empty; bidiStream needs an input stream", async () => {
    const none = decodeInput(undefined, (b) => b[0]);
    expect((await none[Symbol.asyncIterator]().next()).done).toBe(true);
    let cancelled = false;
    const noRequests: Stream = { responses: (async function* () {})(), cancel: () => (cancelled = true) };
    expect(() => bidiStream(noRequests, () => new Uint8Array(), (b) => b)).toThrow(ProtocolError);
    expect(cancelled).toBe(true);
  });

  it("bidiStream encodes what is sent and passes close() through", async () => {
    const sent: Uint8Array[] = [];
    let closed = false;
    const stream: Stream = {
      responses: (async function* () {})(),
      requests: { send: async (m) => void sent.push(m), close: () => (closed = true) },
      cancel: () => {},
    };
    const typed = bidiStream(stream, (n: number) => new Uint8Array([n]), (b) => b[0]);
    await typed.requests.send(7);
    typed.requests.close();
    expect(sent).toEqual([new Uint8Array([7])]);
    expect(closed).toBe(true);
  });
});

describe("error text helpers", () => {
  it("names types and shows short values", () => {
    expect([null, [], new Uint8Array(), new Date(), new Map(), 1, "s", 1n, true, undefined, {}].map(typeOf)).toEqual([
      "null", "array", "Uint8Array", "Date", "Map", "number", "string", "bigint", "boolean", "undefined", "object",
    ]);
    expect(mismatch("string", 3)).toBe(": expected string, got number");
    expect(mismatchValue('"a" | "b"', "c")).toBe(': expected "a" | "b", got "c"');
    expect(mismatchValue("1 | 2", 3n)).toBe(": expected 1 | 2, got 3n");
    expect(mismatchValue("E", "x".repeat(100))).toBe(`: expected E, got "${"x".repeat(40)}…"`);
    expect(keyPath('a"b')).toBe('["a\\"b"]');
    expect(keyPath(3)).toBe("[3]");
  });
});

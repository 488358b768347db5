import { describe, expect, it } from "vitest";
import {
  AbortError,
  DeadlineExceededError,
  DisconnectedError,
  DrainingError,
  ErrorCode,
  GridError,
  InvalidPayloadError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  UnauthenticatedError,
  ResourceExhaustedError,
  UnknownHandlerError,
} from "../../runtime/errors.js";

type GridErrorClass = new (message: string, options?: { cause?: unknown }) => GridError;

/** Each code's wire string and class: the wire strings are protocol, so they are spelled out. */
const byCode: ReadonlyArray<[ErrorCode, string, GridErrorClass]> = [
  [ErrorCode.Remote, "remote", RemoteError],
  [ErrorCode.Disconnected, "disconnected", DisconnectedError],
  [ErrorCode.DeadlineExceeded, "deadline_exceeded", DeadlineExceededError],
  [ErrorCode.Aborted, "aborted", AbortError],
  [ErrorCode.UnknownHandler, "unknown_handler", UnknownHandlerError],
  [ErrorCode.Protocol, "protocol", ProtocolError],
  [ErrorCode.MessageTooLarge, "message_too_large", MessageTooLargeError],
  [ErrorCode.InvalidPayload, "invalid_payload", InvalidPayloadError],
  [ErrorCode.Unauthenticated, "unauthenticated", UnauthenticatedError],
  [ErrorCode.ResourceExhausted, "resource_exhausted", ResourceExhaustedError],
  [ErrorCode.Draining, "draining", DrainingError],
];
const allClasses = byCode.map(([, , cls]) => cls);

describe("ErrorCode", () => {
  it("is the closed set of stable wire strings", () => {
    expect(Object.values(ErrorCode).sort()).toEqual(byCode.map(([, wire]) => wire).sort());
    for (const [code, wire] of byCode) expect(code).toBe(wire);
  });
});

describe.each(byCode)("code %s", (code, _wire, cls) => {
  it("constructs with code, prefixed message, rawMessage, name and cause", () => {
    const cause = new Error("root");
    const err = new cls("something broke", { cause });
    expect(err.code).toBe(code);
    expect(err.message).toBe(`[${code}] something broke`);
    expect(err.rawMessage).toBe("something broke");
    expect(err.name).toBe(cls.name);
    expect(err.cause).toBe(cause);
    expect(err.stack).toContain(cls.name);
    expect(String(err)).toBe(`${cls.name}: [${code}] something broke`);
  });

  it("fromWire rebuilds the class for the code", () => {
    const err = GridError.fromWire(code, "from the peer");
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(GridError);
    expect(err).toBeInstanceOf(Error);
    for (const other of allClasses) if (other !== cls) expect(err).not.toBeInstanceOf(other);
    expect(err.code).toBe(code);
    expect(err.message).toBe(`[${code}] from the peer`);
    expect(err.rawMessage).toBe("from the peer");
    expect(err.name).toBe(cls.name);
  });

  it("round trips through (code, rawMessage), the wire form", () => {
    const sent = new cls("over the wire");
    const received = GridError.fromWire(sent.code, sent.rawMessage);
    expect(received.constructor).toBe(cls);
    expect(received.message).toBe(sent.message);
  });

  it("from() returns it unchanged", () => {
    const err = new cls("mine");
    expect(GridError.from(err)).toBe(err);
  });
});

describe("GridError.fromWire", () => {
  it.each(["", "REMOTE", "Protocol", "teapot", "constructor", "__proto__", "toString", "[protocol]"])(
    "turns unknown code %j into a RemoteError that keeps the message",
    (code) => {
      const err = GridError.fromWire(code, "peer said so");
      expect(err).toBeInstanceOf(RemoteError);
      expect(err.code).toBe("remote");
      expect(err.rawMessage).toBe("peer said so");
      expect(err.message).toBe("[remote] peer said so");
    },
  );

  it("keeps an empty message", () => {
    const err = GridError.fromWire("aborted", "");
    expect(err.rawMessage).toBe("");
    expect(err.message).toBe("[aborted] ");
  });
});

describe("GridError.from", () => {
  it("wraps an Error as a RemoteError with its message and the Error as cause", () => {
    const thrown = new TypeError("x is not a function");
    const err = GridError.from(thrown);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.code).toBe("remote");
    expect(err.rawMessage).toBe("x is not a function");
    expect(err.message).toBe("[remote] x is not a function");
    expect(err.cause).toBe(thrown);
  });

  it.each<[string, unknown, string]>([
    ["a string", "plain string", "plain string"],
    ["a number", 42, "42"],
    ["undefined", undefined, "undefined"],
    ["null", null, "null"],
    ["a plain object", { a: 1 }, "[object Object]"],
    ["a symbol", Symbol("s"), "Symbol(s)"],
  ])("wraps %s as a RemoteError", (_name, thrown, message) => {
    const err = GridError.from(thrown);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.rawMessage).toBe(message);
    expect(err.cause).toBe(thrown);
  });

  it.each<[string, unknown]>([
    ["an object without a prototype", Object.create(null)],
    ["an object whose toString throws", { toString: () => { throw new Error("nope"); } }],
    ["an Error whose message getter throws", Object.defineProperty(new Error(), "message", { get: () => { throw new Error("nope"); } })],
  ])("never throws itself, even for %s", (_name, thrown) => {
    let err: GridError | undefined;
    expect(() => (err = GridError.from(thrown))).not.toThrow();
    expect(err).toBeInstanceOf(RemoteError);
    expect(err!.rawMessage.length).toBeGreaterThan(0);
    expect(err!.cause).toBe(thrown);
  });

  it("keeps a subclass defined by a user, with its own name", () => {
    class QuotaError extends UnknownHandlerError {}
    const err = new QuotaError("no quota");
    expect(GridError.from(err)).toBe(err);
    expect(err.name).toBe("QuotaError");
    expect(err.code).toBe("unknown_handler");
  });
});

describe("default messages", () => {
  it.each<[string, () => GridError, string]>([
    ["DisconnectedError", () => new DisconnectedError(), "[disconnected] connection lost"],
    ["DeadlineExceededError", () => new DeadlineExceededError(), "[deadline_exceeded] deadline exceeded"],
    ["AbortError", () => new AbortError(), "[aborted] call cancelled"],
  ])("%s", (_name, make, message) => {
    expect(make().message).toBe(message);
  });
});

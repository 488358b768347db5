/**
 * Senders validate too: a generated encoder refuses a value that does not match the schema
 * before anything is sent, with the decoder's path-precise InvalidPayloadError. On main before
 * this, `value: "hello"` was stored as five zero bytes, `tags: "abc"` arrived as ['a','b','c'],
 * `ttlMs: "5"` as 5, and other mistakes threw TypeErrors from inside the writer.
 */
import { describe, expect, it } from "vitest";
import { InvalidPayloadError, encodeMsgpack } from "tsgrid";
import type { Caller } from "tsgrid";
import { DiskInfoCodec, DiskKind, FileInfoCodec } from "../../generated/storage.js";
import type { DiskInfo } from "../../generated/storage.js";
import { KvClient, PutRequestCodec } from "./fixtures/golden/kv/out/kv.js";
import type { Entry, PutRequest } from "./fixtures/golden/kv/out/kv.js";

const entry = (): Entry => ({
  key: "k",
  value: new Uint8Array([1, 2]),
  tags: ["a"],
  ttlMs: 5,
  updatedAt: new Date(1_700_000_000_000),
  versions: { n1: 1 },
  owners: new Map([["n1", null]]),
  mode: "strict",
});

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPayloadError);
    return (err as InvalidPayloadError).rawMessage;
  }
  throw new Error("expected InvalidPayloadError");
}

const put = (patch: Record<string, unknown>): PutRequest => ({ entry: { ...entry(), ...patch } }) as unknown as PutRequest;

describe("generated encoders refuse what the schema does not allow", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["Uint8Array given a string", { value: "hello" }, "PutRequest.entry.value: expected Uint8Array, got string"],
    ["array given a string", { tags: "abc" }, "PutRequest.entry.tags: expected string[], got string"],
    ["array element", { tags: ["a", 1] }, "PutRequest.entry.tags[1]: expected string, got number"],
    ["number given a string", { ttlMs: "5" }, "PutRequest.entry.ttlMs: expected number, got string"],
    ["Date given a number", { updatedAt: 12 }, "PutRequest.entry.updatedAt: expected Date, got number"],
    ["Date given a string", { updatedAt: "2026-01-01" }, "PutRequest.entry.updatedAt: expected Date, got string"],
    ["an invalid Date", { updatedAt: new Date(Number.NaN) }, "PutRequest.entry.updatedAt: expected Date, got Invalid Date"],
    ["undefined for a required field", { key: undefined }, "PutRequest.entry.key: expected string, got undefined"],
    ["Record given an array", { versions: [1] }, "PutRequest.entry.versions: expected Record<string, number>, got array"],
    ["Record given a Map", { versions: new Map() }, "PutRequest.entry.versions: expected Record<string, number>, got Map"],
    ["Record value", { versions: { n1: "1" } }, 'PutRequest.entry.versions["n1"]: expected number, got string'],
    ["Map given an object", { owners: { n1: null } }, "PutRequest.entry.owners: expected Map<string, Entry | null>, got object"],
    ["Map key", { owners: new Map([[1, null]]) }, "PutRequest.entry.owners key: expected string, got number"],
    ["nested message in a Map", { owners: new Map([["n1", 3]]) }, 'PutRequest.entry.owners["n1"]: expected Entry, got number'],
    ["literal union", { mode: "lax" }, 'PutRequest.entry.mode: expected "strict" | "loose" | Entry, got "lax"'],
    ["union's message member", { mode: { ...entry(), key: 1 } }, "PutRequest.entry.mode.key: expected string, got number"],
  ];
  for (const [name, patch, message] of cases) {
    it(name, () => {
      expect(refused(() => PutRequestCodec.encode(put(patch)))).toBe(message);
    });
  }

  it("a message that is not an object, and a missing nested message", () => {
    expect(refused(() => PutRequestCodec.encode("x" as unknown as PutRequest))).toBe("PutRequest: expected PutRequest, got string");
    expect(refused(() => PutRequestCodec.encode({} as PutRequest))).toBe("PutRequest.entry: expected Entry, got undefined");
  });

  it("bigints beyond 64 bits, enums and a __proto__ record key", () => {
    const d: DiskInfo = {
      id: "d",
      total: 1,
      free: 1,
      used: 1n,
      healing: false,
      kind: DiskKind.Ssd,
      state: "ok",
      metrics: {},
      tags: [],
      checksum: new Uint8Array(0),
      since: new Date(0),
      lastError: null,
    };
    expect(refused(() => DiskInfoCodec.encode({ ...d, used: 2n ** 64n }))).toBe("DiskInfo.used: expected a 64-bit integer, got 18446744073709551616n");
    expect(refused(() => DiskInfoCodec.encode({ ...d, used: 5 as unknown as bigint }))).toBe("DiskInfo.used: expected bigint, got number");
    expect(refused(() => DiskInfoCodec.encode({ ...d, kind: 9 as DiskKind }))).toBe("DiskInfo.kind: expected DiskKind (0 | 1 | 2 | 3), got 9");
    const proto = JSON.parse('{"__proto__": 1}') as Record<string, number>;
    expect(refused(() => DiskInfoCodec.encode({ ...d, metrics: proto }))).toBe('DiskInfo.metrics: expected a key other than __proto__, got "__proto__"');
    expect(refused(() => FileInfoCodec.encode({ volume: "v" } as never))).toBe("FileInfo.name: expected string, got undefined");
  });

  it("gives the decoder's message for the same mistake", () => {
    // What the receiver would have said, had the sender sent the bad value as plain msgpack.
    const decoderSays = (patch: Record<string, unknown>): string => refused(() => PutRequestCodec.decode(encodeMsgpack(put(patch))));
    for (const patch of [{ value: "hello" }, { tags: "abc" }, { ttlMs: "5" }, { updatedAt: 12 }, { versions: { n1: "1" } }, { mode: "lax" }]) {
      expect(refused(() => PutRequestCodec.encode(put(patch)))).toBe(decoderSays(patch));
    }
  });

  it("a refused value leaves nothing behind: the next message encodes cleanly", () => {
    const good = PutRequestCodec.encode({ entry: entry() });
    const copy = Uint8Array.from(good);
    refused(() => PutRequestCodec.encode(put({ mode: "lax" })));
    expect([...PutRequestCodec.encode({ entry: entry() })]).toEqual([...copy]);
    expect(PutRequestCodec.decode(copy).entry.tags).toEqual(["a"]);
  });

  it("a value that contains itself is refused, not a stack overflow", () => {
    const e = entry();
    e.mode = e;
    expect(refused(() => PutRequestCodec.encode({ entry: e }))).toMatch(/^PutRequest: nested too deeply to encode/);
  });

  it("the typed client rejects before sending anything", async () => {
    const sent: unknown[] = [];
    const caller = {
      request: async (...args: unknown[]) => {
        sent.push(args);
        return new Uint8Array(0);
      },
      newStream: async (...args: unknown[]) => {
        sent.push(args);
        throw new Error("not reached");
      },
    } as unknown as Caller;
    const kv = new KvClient(caller);
    await expect(kv.put(put({ value: "hello" }))).rejects.toThrow("PutRequest.entry.value: expected Uint8Array, got string");
    await expect(kv.put(put({ value: "hello" }))).rejects.toBeInstanceOf(InvalidPayloadError);
    expect(sent).toEqual([]);
  });
});

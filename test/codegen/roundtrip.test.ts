/**
 * The generated clients and servers of schemas/ end to end: every handler form (single, server
 * stream with and without payload, bidi stream with and without payload), subroutes, and
 * wrong-shape payloads sent raw (the handler is not called; the caller gets InvalidPayloadError
 * naming the path). Run three ways: through an in-memory fake Caller/HandlerRegistrar pair,
 * over two real Connections joined in memory, and between two Managers on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  Connection,
  GridError,
  HandlerRegistry,
  InvalidPayloadError,
  Manager,
  encodeMsgpack,
  memoryTransportPair,
  silentLogger,
} from "tsgrid";
import type { CallOptions, Caller, HandlerContext, HandlerRegistrar, SingleHandler, Stream, StreamHandler } from "tsgrid";
import { LockerClient, LockerHandlerID, registerLocker } from "../../generated/locks.js";
import type { LockArgs, LockEvent, LockEventFilter, LockerServer, RefreshRequest, RefreshResult } from "../../generated/locks.js";
import { DiskKind, StorageClient, StorageHandlerID, registerStorage } from "../../generated/storage.js";
import type {
  DiskInfo,
  DiskInfoRequest,
  FileInfo,
  RenameOp,
  RenameResult,
  StorageServer,
  WalkDirRequest,
  WriteChunk,
  WriteFileRequest,
  WriteProgress,
} from "../../generated/storage.js";
import { freePorts } from "../cluster/helpers.js";

// ---- implementations ----

interface Calls {
  /** Names of the handlers the implementations ran. */
  seen: string[];
}

function storageImpl(calls: Calls): StorageServer {
  return {
    diskInfo(req: DiskInfoRequest, ctx: HandlerContext): DiskInfo {
      calls.seen.push("diskInfo");
      return {
        id: req.disk,
        total: 100,
        free: 40,
        used: 2n ** 60n,
        healing: false,
        kind: DiskKind.Ssd,
        state: "ok",
        metrics: req.withMetrics ? { reads: 1 } : {},
        tags: [ctx.subroute ?? "-"],
        checksum: new Uint8Array([1, 2]),
        since: new Date(1000),
        lastError: null,
      };
    },
    async *walkDir(req: WalkDirRequest): AsyncIterable<FileInfo> {
      calls.seen.push("walkDir");
      for (let i = 0; i < (req.limit ?? 3); i++) {
        yield {
          volume: req.volume,
          name: `${req.path}/f${i}`,
          isDir: false,
          size: BigInt(i),
          modTime: new Date(i),
          parity: 2,
          parts: new Map([[1, { number: 1, size: 1n, etag: "e" }]]),
          metadata: new Map(),
          dataDir: null,
        };
      }
    },
    async *renameMany(input: AsyncIterable<RenameOp>): AsyncIterable<RenameResult> {
      calls.seen.push("renameMany");
      for await (const op of input) yield { src: op.src, ok: op.lock !== undefined, error: op.lock ? undefined : "no lock" };
    },
    readFile(req) {
      calls.seen.push("readFile");
      return Promise.resolve({ data: new Uint8Array(req.length).fill(7), eof: true });
    },
    async *watchDisks(ctx: HandlerContext): AsyncIterable<DiskInfo> {
      calls.seen.push("watchDisks");
      yield this.diskInfo({ disk: "d1" }, ctx) as DiskInfo;
      yield this.diskInfo({ disk: "d2" }, ctx) as DiskInfo;
    },
    async *writeFile(req: WriteFileRequest, input: AsyncIterable<WriteChunk>): AsyncIterable<WriteProgress> {
      calls.seen.push("writeFile");
      let written = 0n;
      for await (const chunk of input) {
        written += BigInt(chunk.data.length);
        yield { written, done: false };
      }
      yield { written: req.size ?? written, done: true };
    },
  };
}

function lockerImpl(calls: Calls): LockerServer {
  const reply = (name: string) => (args: LockArgs) => {
    calls.seen.push(name);
    return { ok: args.resources.length > 0, reason: args.resources.length > 0 ? undefined : ("invalid" as const), holder: null };
  };
  return {
    lock: reply("lock"),
    unlock: reply("unlock"),
    rLock: reply("rLock"),
    rUnlock: reply("rUnlock"),
    refresh: reply("refresh"),
    forceUnlock: reply("forceUnlock"),
    async *lockEvents(filter: LockEventFilter): AsyncIterable<LockEvent> {
      calls.seen.push("lockEvents");
      for (const kind of filter.kinds ?? ["lock"]) {
        yield { seq: 1, kind, resource: `${filter.prefix ?? ""}x`, uid: "u", owner: "n", time: new Date(42) };
      }
    },
    async *refreshMany(input: AsyncIterable<RefreshRequest>): AsyncIterable<RefreshResult> {
      calls.seen.push("refreshMany");
      for await (const r of input) yield { uid: r.uid, ok: r.resources.length > 0 };
    },
  };
}

const args = (resources: string[]): LockArgs => ({ resources, uid: "u1", owner: "n1", quorum: 2 });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<GridError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(GridError);
    return err as GridError;
  }
  throw new Error("expected a rejection");
}

// ---- the scenario, run over every setup ----

interface Setup {
  /** Calls the server. */
  caller: Caller;
  /** Calls the server's handlers registered under subroute "disk7". */
  subCaller: Caller;
  /** Where the server registers handlers. */
  registrar: HandlerRegistrar;
}

async function everyHandlerForm(s: Setup): Promise<void> {
  const calls: Calls = { seen: [] };
  registerStorage(s.registrar, storageImpl(calls));
  registerLocker(s.registrar, lockerImpl(calls));
  const storage = new StorageClient(s.caller);
  const locks = new LockerClient(s.caller);

  // Single.
  const info = await storage.diskInfo({ disk: "d9", withMetrics: true });
  expect(info).toMatchObject({ id: "d9", used: 2n ** 60n, kind: DiskKind.Ssd, metrics: { reads: 1 }, since: new Date(1000) });
  expect([...info.checksum]).toEqual([1, 2]);
  expect([...(await storage.readFile({ volume: "v", path: "p", offset: 0n, length: 3 })).data]).toEqual([7, 7, 7]);
  for (const m of ["lock", "unlock", "rLock", "rUnlock", "refresh", "forceUnlock"] as const) {
    expect(await locks[m](args(["a"]))).toEqual({ ok: true, reason: undefined, holder: null });
  }
  expect(await locks.lock(args([]))).toMatchObject({ ok: false, reason: "invalid" });

  // Server stream with payload.
  const walk = await storage.walkDir({ volume: "v", path: "dir", recursive: false, limit: 2 });
  const files = await collect(walk.responses);
  expect(files.map((f) => f.name)).toEqual(["dir/f0", "dir/f1"]);
  expect(files[1]?.size).toBe(1n);
  expect(files[0]?.parts.get(1)?.size).toBe(1n);
  const events = await collect((await locks.lockEvents({ prefix: "p/", kinds: ["rlock", "expire"] })).responses);
  expect(events.map((e) => [e.kind, e.resource, e.time.getTime()])).toEqual([
    ["rlock", "p/x", 42],
    ["expire", "p/x", 42],
  ]);

  // Server stream without payload.
  const disks = await collect((await storage.watchDisks()).responses);
  expect(disks.map((d) => d.id)).toEqual(["d1", "d2"]);

  // Bidi stream without payload.
  const renames = await storage.renameMany();
  await renames.requests.send({ srcVolume: "a", src: "x", dstVolume: "b", dst: "y", lock: args(["x", "y"]) });
  await renames.requests.send({ srcVolume: "a", src: "z", dstVolume: "b", dst: "w" });
  renames.requests.close();
  expect(await collect(renames.responses)).toEqual([
    { src: "x", ok: true, error: undefined },
    { src: "z", ok: false, error: "no lock" },
  ]);
  const refreshes = await locks.refreshMany();
  await refreshes.requests.send({ uid: "a", resources: ["r"] });
  await refreshes.requests.send({ uid: "b", resources: [] });
  refreshes.requests.close();
  expect(await collect(refreshes.responses)).toEqual([
    { uid: "a", ok: true },
    { uid: "b", ok: false },
  ]);

  // Bidi stream with payload.
  const write = await storage.writeFile({ volume: "v", path: "p" });
  await write.requests.send({ data: new Uint8Array(10) });
  await write.requests.send({ data: new Uint8Array(5) });
  write.requests.close();
  expect(await collect(write.responses)).toEqual([
    { written: 10n, done: false },
    { written: 15n, done: false },
    { written: 15n, done: true },
  ]);

  // Subroute.
  registerStorage(s.registrar, storageImpl(calls), { subroute: "disk7" });
  expect((await new StorageClient(s.subCaller).diskInfo({ disk: "d" })).tags).toEqual(["disk7"]);

  expect(new Set(calls.seen)).toEqual(
    new Set(["diskInfo", "readFile", "lock", "unlock", "rLock", "rUnlock", "refresh", "forceUnlock", "walkDir", "lockEvents", "watchDisks", "renameMany", "refreshMany", "writeFile"]),
  );
}

async function wrongShapes(s: Setup): Promise<void> {
  const calls: Calls = { seen: [] };
  registerStorage(s.registrar, storageImpl(calls));
  registerLocker(s.registrar, lockerImpl(calls));

  // A single request of the wrong shape: the handler is not called.
  const err = await rejection(s.caller.request(StorageHandlerID.diskInfo, encodeMsgpack({ disk: 5 })));
  expect(err).toBeInstanceOf(InvalidPayloadError);
  expect(err.rawMessage).toBe("DiskInfoRequest.disk: expected string, got number");
  const err2 = await rejection(s.caller.request(LockerHandlerID.lock, encodeMsgpack({ resources: ["a", 1], uid: "u", owner: "o", quorum: 1 })));
  expect(err2.rawMessage).toBe("LockArgs.resources[1]: expected string, got number");
  const err3 = await rejection(s.caller.request(LockerHandlerID.lock, new Uint8Array([0xde, 0x00, 0x05, 0xa3])));
  expect(err3).toBeInstanceOf(InvalidPayloadError);
  expect(err3.rawMessage).toMatch(/^LockArgs: malformed msgpack/);

  // A stream payload of the wrong shape.
  const walk = await s.caller.newStream(StorageHandlerID.walkDir, encodeMsgpack({ volume: "v", path: "p", recursive: "yes" }));
  const err4 = await rejection(collect(walk.responses));
  expect(err4).toBeInstanceOf(InvalidPayloadError);
  expect(err4.rawMessage).toBe("WalkDirRequest.recursive: expected boolean, got string");

  // An input message of the wrong shape, after a good one.
  const renames = await s.caller.newStream(StorageHandlerID.renameMany);
  await renames.requests?.send(encodeMsgpack({ srcVolume: "a", src: "x", dstVolume: "b", dst: "y" }));
  await renames.requests?.send(encodeMsgpack({ srcVolume: "a", src: 1, dstVolume: "b", dst: "y" }));
  renames.requests?.close();
  const got: Uint8Array[] = [];
  const err5 = await rejection(
    (async () => {
      for await (const m of renames.responses) got.push(m);
    })(),
  );
  expect(err5).toBeInstanceOf(InvalidPayloadError);
  expect(err5.rawMessage).toBe("RenameOp.src: expected string, got number");
  expect(got.length).toBe(1);

  expect(calls.seen).toEqual(["renameMany"]);
}

/** A server answering with bytes of the wrong shape: the generated client rejects them. */
async function wrongResponses(s: Setup): Promise<void> {
  s.registrar.registerSingle(LockerHandlerID.lock, () => encodeMsgpack({ ok: "yes" }));
  s.registrar.registerStream(LockerHandlerID.lockEvents, async function* () {
    yield encodeMsgpack({ seq: 1, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date() });
    yield encodeMsgpack({ seq: 2, kind: "unknown-kind", resource: "r", uid: "u", owner: "o", time: new Date() });
  });
  const locks = new LockerClient(s.caller);
  const err = await rejection(locks.lock(args(["a"])));
  expect(err).toBeInstanceOf(InvalidPayloadError);
  expect(err.rawMessage).toBe("LockReply.ok: expected boolean, got string");
  const events = await locks.lockEvents({});
  const seen: LockEvent[] = [];
  const err2 = await rejection(
    (async () => {
      for await (const e of events.responses) seen.push(e);
    })(),
  );
  expect(err2.rawMessage).toMatch(/^LockEvent\.kind: expected "lock" \| .*, got "unknown-kind"$/);
  expect(seen.length).toBe(1);
}

// ---- setups ----

/**
 * A fake pair: the caller hands bytes (copied, as a wire would) to the handlers of a registry,
 * and errors travel as code + message, as the runtime sends them.
 */
class FakeRegistrar implements HandlerRegistrar {
  readonly singles = new Map<string, SingleHandler>();
  readonly streams = new Map<string, { handler: StreamHandler; input: boolean }>();
  registerSingle(id: number, handler: SingleHandler, opts?: { subroute?: string }): void {
    this.singles.set(`${opts?.subroute ?? ""}/${id}`, handler);
  }
  registerStream(id: number, handler: StreamHandler, opts?: { inCapacity?: number; subroute?: string }): void {
    this.streams.set(`${opts?.subroute ?? ""}/${id}`, { handler, input: (opts?.inCapacity ?? 0) > 0 });
  }
}

const wire = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const overWire = (err: unknown): GridError => {
  const g = GridError.from(err);
  return GridError.fromWire(g.code, g.rawMessage);
};

class FakeCaller implements Caller {
  constructor(
    private readonly reg: FakeRegistrar,
    private readonly subroute?: string,
  ) {}

  private ctx(): HandlerContext {
    return { signal: new AbortController().signal, caller: "fake", deadline: undefined, subroute: this.subroute, metadata: {} };
  }

  async request(handler: number, payload: Uint8Array, _opts?: CallOptions): Promise<Uint8Array> {
    const h = this.reg.singles.get(`${this.subroute ?? ""}/${handler}`);
    if (h === undefined) throw new Error(`no handler ${handler}`);
    try {
      return wire(await h(wire(payload), this.ctx()));
    } catch (err) {
      throw overWire(err);
    }
  }

  async newStream(handler: number, payload?: Uint8Array, _opts?: CallOptions): Promise<Stream> {
    const h = this.reg.streams.get(`${this.subroute ?? ""}/${handler}`);
    if (h === undefined) throw new Error(`no stream handler ${handler}`);
    const queue: (Uint8Array | null)[] = [];
    let wake: (() => void) | undefined;
    const input: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length === 0) await new Promise<void>((r) => (wake = r));
          const m = queue.shift();
          if (m === null || m === undefined) return;
          yield m;
        }
      },
    };
    const out = h.handler(payload && wire(payload), h.input ? input : undefined, this.ctx());
    const push = (m: Uint8Array | null): void => {
      queue.push(m);
      wake?.();
    };
    return {
      responses: (async function* () {
        try {
          for await (const m of out) yield wire(m);
        } catch (err) {
          throw overWire(err);
        }
      })(),
      requests: h.input ? { send: async (m) => push(wire(m)), close: () => push(null) } : undefined,
      cancel: () => push(null),
    };
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function fakeSetup(): Setup {
  const registrar = new FakeRegistrar();
  return { registrar, caller: new FakeCaller(registrar), subCaller: new FakeCaller(registrar, "disk7") };
}

function connectionSetup(): Setup {
  const ra = new HandlerRegistry();
  const rb = new HandlerRegistry();
  const a = new Connection({ local: "a", remote: "b", handlers: ra, options: { logger: silentLogger } });
  const b = new Connection({ local: "b", remote: "a", handlers: rb, options: { logger: silentLogger } });
  const [ta, tb] = memoryTransportPair();
  a.attach(ta);
  b.attach(tb);
  cleanups.push(() => {
    a.close();
    b.close();
  });
  return { registrar: rb, caller: a, subCaller: a.subroute("disk7") };
}

async function managerSetup(): Promise<Setup> {
  const [p1, p2] = await freePorts(2);
  const hosts = [`ws://127.0.0.1:${p1}/grid`, `ws://127.0.0.1:${p2}/grid`];
  const managers = hosts.map(
    (local) => new Manager({ local, hosts, logger: silentLogger, reconnect: { initialDelayMs: 10, maxDelayMs: 100 } }),
  );
  cleanups.push(async () => {
    await Promise.all(managers.map((m) => m.close()));
  });
  await Promise.all(managers.map((m) => m.listen()));
  const [m1, m2] = managers as [Manager, Manager];
  const conn = m1.connection(m2.local);
  await conn.waitConnected();
  return { registrar: m2, caller: conn, subCaller: conn.subroute("disk7") };
}

const setups: [string, () => Setup | Promise<Setup>][] = [
  ["fake in-memory caller and registrar", fakeSetup],
  ["two Connections over a memory transport", connectionSetup],
  ["two Managers on 127.0.0.1", managerSetup],
];

for (const [name, setup] of setups) {
  describe(name, () => {
    it("calls every handler form through the generated client and server", async () => {
      await everyHandlerForm(await setup());
    });
    it("rejects wrong-shape payloads with InvalidPayloadError naming the path, without calling the handler", async () => {
      await wrongShapes(await setup());
    });
    it("rejects wrong-shape responses on the client", async () => {
      await wrongResponses(await setup());
    });
  });
}

describe("stream lifetimes through the generated code (two Connections)", () => {
  const until = async (cond: () => boolean): Promise<void> => {
    const end = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > end) throw new Error("condition not met in time");
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  /** A Locker whose lockEvents never ends on its own, recording when its generator is closed. */
  function endlessEvents(state: { closed: number; sent: number }): LockerServer {
    return {
      ...lockerImpl({ seen: [] }),
      async *lockEvents(_filter, ctx) {
        try {
          while (!ctx.signal.aborted) {
            state.sent++;
            yield { seq: state.sent, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date(0) };
            await new Promise((r) => setTimeout(r, 1));
          }
        } finally {
          state.closed++;
        }
      },
    };
  }

  it("breaking out of the typed responses cancels the stream and closes the server's generator", async () => {
    const s = connectionSetup();
    const state = { closed: 0, sent: 0 };
    registerLocker(s.registrar, endlessEvents(state));
    const events = await new LockerClient(s.caller).lockEvents({});
    let n = 0;
    for await (const e of events.responses) {
      expect(e.seq).toBe(++n);
      if (n === 3) break;
    }
    await until(() => state.closed === 1);
  });

  it("cancel() ends the typed responses and closes the server's generator", async () => {
    const s = connectionSetup();
    const state = { closed: 0, sent: 0 };
    registerLocker(s.registrar, endlessEvents(state));
    const events = await new LockerClient(s.caller).lockEvents({});
    const it = events.responses[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    events.cancel();
    await until(() => state.closed === 1);
    await expect(
      (async () => {
        for (;;) if ((await it.next()).done) return;
      })(),
    ).rejects.toBeInstanceOf(GridError);
  });

  it("a bad input message closes the server's input and the caller sees the error", async () => {
    const s = connectionSetup();
    let inputClosed = false;
    registerLocker(s.registrar, {
      ...lockerImpl({ seen: [] }),
      async *refreshMany(input) {
        try {
          for await (const r of input) yield { uid: r.uid, ok: true };
        } finally {
          inputClosed = true;
        }
      },
    });
    const raw = await s.caller.newStream(LockerHandlerID.refreshMany);
    await raw.requests?.send(encodeMsgpack({ uid: "a", resources: [] }));
    await raw.requests?.send(encodeMsgpack({ uid: 7 }));
    const err = await rejection(collect(raw.responses));
    expect(err.rawMessage).toBe("RefreshRequest.uid: expected string, got number");
    await until(() => inputClosed);
  });
});

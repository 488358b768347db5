/**
 * Bytes copied per payload byte sent: every user-space copy of a large payload on its way
 * from one process's Uint8Array to the other's handler and back, counted by wrapping the
 * functions that copy (TypedArray set/slice, Buffer.concat/copy/from, and ws's masking, which
 * XORs a client's payload into a new buffer). The socket's own copies (into and out of the
 * kernel) are not counted: they are what any sender needs. In-place passes over the bytes
 * (ws unmasking a received client frame, a CRC32) are counted apart.
 *
 * Both ends run in this process over a real loopback WebSocket (a `ws` server, a `ws`
 * client: the client masks what it sends, as RFC 6455 requires); one round trip sends the
 * payload twice (request, answer). Variants, each in its own process:
 *   - raw ws echo: `ws.send(payload)` both ways (bench row ws.echo.*);
 *   - tsgrid: two bare Connections (the same write and read path as a Manager's link), an
 *     echo handler (bench row tsgrid.single.*); and the same with frame checksums.
 *
 *   npm run build && node dist/bench/micro/bytes-copied.js [--ops=200] [--inflight=16]
 *
 * Prints, per variant and payload size: user-space bytes copied per payload byte sent, the
 * in-place passes per byte, and the sites (function, file:line) the copies come from.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";

const SIZES = [16 * 1024, 64 * 1024, 1024 * 1024] as const;
const VARIANTS = ["raw ws echo", "tsgrid", "tsgrid, checksums"] as const;
type Variant = (typeof VARIANTS)[number];
/** Copies smaller than this are headers, not payload: not counted. */
const MIN_COUNTED = 1024;

interface Options {
  ops: number;
  inflight: number;
  variant?: number;
  size?: number;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { ops: 200, inflight: 16 };
  for (const arg of argv) {
    const m = /^--(ops|inflight|variant|size)=(\d+)$/.exec(arg);
    if (m === null) throw new Error(`unknown argument ${arg}`);
    o[m[1] as keyof Options] = Number(m[2]);
  }
  return o;
}

// --- the counters -------------------------------------------------------------------------

let counting = false;
let copied = 0;
let passes = 0;
const sites = new Map<string, number>();

/** The first stack frame outside this file and node's internals: who asked for the copy. */
function site(): string {
  const stack = new Error().stack?.split("\n").slice(2) ?? [];
  const self = fileURLToPath(import.meta.url);
  for (const line of stack) {
    if (line.includes(self) || line.includes("node:")) continue;
    const m = /at (?:(\S+) )?\(?(.*?):(\d+):\d+\)?$/.exec(line.trim());
    if (m === null) continue;
    const file = m[2]!.replace(/^.*\/(node_modules\/|dist\/)/, "");
    return `${m[1] ?? "<anonymous>"} ${file}:${m[3]}`;
  }
  return "?";
}

function count(bytes: number): void {
  if (!counting || bytes < MIN_COUNTED) return;
  copied += bytes;
  const s = site();
  sites.set(s, (sites.get(s) ?? 0) + bytes);
}

function wrapCopies(): void {
  const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as {
    set(this: Uint8Array, src: ArrayLike<number>, offset?: number): void;
    slice(this: Uint8Array, start?: number, end?: number): Uint8Array;
  };
  const set = typedArrayProto.set;
  typedArrayProto.set = function (this: Uint8Array, src: ArrayLike<number>, offset?: number): void {
    count(src.length);
    set.call(this, src, offset);
  };
  const slice = typedArrayProto.slice;
  typedArrayProto.slice = function (this: Uint8Array, start?: number, end?: number): Uint8Array {
    const out = slice.call(this, start, end);
    count(out.byteLength);
    return out;
  };
  const concat = Buffer.concat;
  Buffer.concat = function (list: readonly Uint8Array[], total?: number): Buffer {
    const out = concat.call(Buffer, list, total);
    count(out.byteLength);
    return out;
  } as typeof Buffer.concat;
  const copy = Buffer.prototype.copy;
  Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ...rest: number[]): number {
    const n = copy.call(this, target, ...rest);
    count(n);
    return n;
  };
  const from = Buffer.from;
  Buffer.from = function (this: unknown, ...args: unknown[]): Buffer {
    const out = (from as (...a: unknown[]) => Buffer).apply(Buffer, args);
    // Buffer.from(arrayBuffer, ...) is a view; everything else copies.
    if (!(args[0] instanceof ArrayBuffer)) count(out.byteLength);
    return out;
  } as typeof Buffer.from;
  // ws masks with buffer-util's functions, destructured when its sender and receiver load:
  // replace them first. mask(source, mask, output, offset, length) copies unless in place.
  const require = createRequire(import.meta.url);
  // By absolute path: ws's package exports do not list lib/ (the module cache is keyed by path).
  const util = require(join(dirname(require.resolve("ws")), "lib", "buffer-util.js")) as {
    mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
    unmask(buffer: Buffer, mask: Buffer): void;
  };
  const mask = util.mask;
  util.mask = (source, m, output, offset, length) => {
    if (output === source && offset === 0) {
      if (counting && length >= MIN_COUNTED) passes += length;
    } else count(length);
    mask(source, m, output, offset, length);
  };
  const unmask = util.unmask;
  util.unmask = (buffer, m) => {
    if (counting && buffer.length >= MIN_COUNTED) passes += buffer.length;
    unmask(buffer, m);
  };
}

// --- one measurement ------------------------------------------------------------------------

interface Pair {
  /** One round trip of `payload`. */
  call(payload: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

async function rawWsPair(): Promise<Pair> {
  const { WebSocket, WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(data as Buffer)));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  // Echo keeps order: answers settle the calls in the order they were sent.
  const waiting: (() => void)[] = [];
  let head = 0;
  ws.on("message", () => waiting[head++]!());
  return {
    call: (payload) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        ws.send(payload);
      }),
    close: async () => {
      ws.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

async function tsgridPair(checksum: boolean): Promise<Pair> {
  const { WebSocketServer } = await import("ws");
  const { Connection, HandlerRegistry, connectWS, silentLogger, wsTransport } = await import("../../runtime/index.js");
  const registry = new HandlerRegistry();
  registry.registerSingle(1, (payload) => payload);
  const options = { logger: silentLogger, checksum };
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const server = new Connection({ local: "server", remote: "client", handlers: registry, options });
  wss.on("connection", (ws) => server.attach(wsTransport(ws)));
  const client = new Connection({ local: "client", remote: "server", handlers: new HandlerRegistry(), options });
  const ws = await connectWS(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { maxPayload: 64 << 20 });
  client.attach(wsTransport(ws));
  return {
    call: async (payload) => {
      await client.request(1, payload);
    },
    close: async () => {
      client.close();
      server.close();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

async function measure(variant: Variant, size: number, o: Options): Promise<void> {
  wrapCopies();
  const pair = variant === "raw ws echo" ? await rawWsPair() : await tsgridPair(variant === "tsgrid, checksums");
  const payload = new Uint8Array(size).fill(7);
  const ops = size >= 1024 * 1024 ? Math.max(16, o.ops >> 2) : o.ops;
  const run = async (n: number): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        await pair.call(payload);
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.inflight, n) }, worker));
  };
  await run(o.inflight * 2); // warm-up, uncounted
  counting = true;
  await run(ops);
  counting = false;
  await pair.close();
  const sent = 2 * ops * size;
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 6);
  process.stdout.write(
    JSON.stringify({ variant, size, copiesPerByte: copied / sent, passesPerByte: passes / sent, sites: top.map(([s, b]) => [s, b / sent]) }) + "\n",
  );
}

// --- driver ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.variant !== undefined && o.size !== undefined) {
    await measure(VARIANTS[o.variant]!, o.size, o);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  console.log(`user-space bytes copied per payload byte sent (${o.inflight} in flight; one round trip sends it twice)\n`);
  console.log("variant              payload    copies/B  in-place passes/B  where the copies are (copies/B)");
  for (const size of SIZES) {
    for (let v = 0; v < VARIANTS.length; v++) {
      const child = spawnSync(process.execPath, [self, `--ops=${o.ops}`, `--inflight=${o.inflight}`, `--variant=${v}`, `--size=${size}`], {
        encoding: "utf8",
        timeout: 120_000,
      });
      if (child.status !== 0) throw new Error(`${VARIANTS[v]} ${size}: ${child.stderr || child.error?.message}`);
      const r = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
        variant: string;
        copiesPerByte: number;
        passesPerByte: number;
        sites: [string, number][];
      };
      const label = size >= 1024 * 1024 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
      console.log(
        `${r.variant.padEnd(20)} ${label.padStart(7)}  ${r.copiesPerByte.toFixed(2).padStart(8)}  ${r.passesPerByte.toFixed(2).padStart(17)}  ` +
          r.sites.map(([s, b]) => `${s} ${b.toFixed(2)}`).join("; "),
      );
    }
  }
}

await main();

/**
 * Stream capacity sweep: what a stream's credits buy (throughput and CPU per message of a bidi
 * echo and a server stream) and what they cost (memory a stalled stream makes its receiver
 * hold), for each capacity and message size. The numbers behind the default capacities
 * (docs/streams.md#choosing-capacities-throughput-against-memory).
 *
 *   npx tsc -p bench/tsconfig.json       # builds bench/ and runtime/ into dist/
 *   node dist/bench/stream-sweep.js [--caps 8,16,32,64,128,256] [--sizes 32,1024]
 *     [--rounds 3] [--duration 700] [--streams 64] [--opts '{"maxMergeFrames":32}']
 *
 * Two Managers (sharedSecretAuth, default options unless `--opts`) in two processes, as the
 * bench's tsgrid rows, plus the raw `ws` one-stream echo with backpressure (the bench's
 * `ws.stream` row) in the same processes for the ratio. Rounds are interleaved; a row's
 * throughput is its best round, CPU per message its median. Memory: `--streams` streams of
 * a handler that never reads its input are each sent `capacity` messages; the server's heap
 * plus ArrayBuffers after a full GC, minus the same streams open and empty, divided by the
 * streams, is what one stalled stream holds (the messages are views of the received WebSocket
 * messages, so this includes the frame headers around them). Bounded: every phase by
 * `--duration`, the whole run by a 10-minute timer that kills the server child.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Manager, sharedSecretAuth, silentLogger, type Connection, type ManagerOptions, type StreamHandler } from "tsgrid";
import { WebSocket, WebSocketServer } from "ws";

interface Args {
  caps: number[];
  sizes: number[];
  rounds: number;
  durationMs: number;
  streams: number;
  opts: Partial<ManagerOptions>;
}

function parseArgs(argv: string[]): Args & { server?: { port: number; clientPort: number; wsPort: number } } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string, def: string): number[] => (get(name) ?? def).split(",").map(Number);
  const port = get("server");
  return {
    caps: list("caps", "8,16,32,64,128,256"),
    sizes: list("sizes", "32,1024"),
    rounds: Number(get("rounds") ?? 3),
    durationMs: Number(get("duration") ?? 700),
    streams: Number(get("streams") ?? 64),
    opts: JSON.parse(get("opts") ?? "{}") as Partial<ManagerOptions>,
    ...(port !== undefined
      ? { server: { port: Number(port), clientPort: Number(get("client-port")), wsPort: Number(get("ws-port")) } }
      : {}),
  };
}

const SECRET = "stream-sweep";
/** Raw ws reference: the send-buffer high-water mark (as bench/servers/raw-ws-server.ts). */
const HIGH_WATER = 64 * 1024;
const RUN_LIMIT_MS = 10 * 60_000;
const ID = { bidi: 100, source: 200, sink: 300, sync: 1 } as const;

const address = (port: number): string => `ws://127.0.0.1:${port}/grid`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function startManager(local: number, peer: number, args: Args): Manager {
  const manager = new Manager({
    local: address(local),
    hosts: [address(local), address(peer)],
    logger: silentLogger,
    auth: sharedSecretAuth(SECRET),
    ...args.opts,
  });
  manager.registerSingle(ID.sync, (p) => p);
  args.caps.forEach((capacity, i) => {
    const bidi: StreamHandler = async function* (_payload, input) {
      if (input === undefined) return;
      for await (const msg of input) yield msg;
    };
    const source: StreamHandler = async function* (payload, _input, ctx) {
      const size = payload === undefined ? 32 : new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      const msg = new Uint8Array(size).fill(7);
      while (!ctx.signal.aborted) yield msg;
    };
    // Takes input and never reads it: what a stalled consumer holds.
    const sink: StreamHandler = async function* (_payload, _input, ctx) {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    };
    manager.registerStream(ID.bidi + i, bidi, { inCapacity: capacity, outCapacity: capacity });
    manager.registerStream(ID.source + i, source, { outCapacity: capacity });
    manager.registerStream(ID.sink + i, sink, { inCapacity: capacity, outCapacity: capacity });
  });
  return manager;
}

function gcNow(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 4; i++) gc?.();
}

type ToChild = { type: "usage"; gc: boolean } | { type: "exit" };
interface ChildUsage {
  cpuUs: number;
  /** heapUsed + arrayBuffers, bytes. */
  mem: number;
  rss: number;
}

async function serverMain(args: Args, ports: { port: number; clientPort: number; wsPort: number }): Promise<void> {
  const manager = startManager(ports.port, ports.clientPort, args);
  await manager.listen();
  const wss = new WebSocketServer({ host: "127.0.0.1", port: ports.wsPort, perMessageDeflate: false });
  wss.on("connection", (ws) => {
    const resume = (): void => ws.resume();
    ws.on("message", (data: Buffer) => {
      if (ws.bufferedAmount + data.length >= HIGH_WATER) {
        ws.pause();
        ws.send(data, resume);
      } else ws.send(data);
    });
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: ToChild) => {
    if (m.type === "exit") process.exit(0);
    if (m.gc) gcNow();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuUs: cpu.user + cpu.system, mem: mem.heapUsed + mem.arrayBuffers, rss: mem.rss } satisfies ChildUsage);
  });
  process.send?.("ready");
}

interface Phase {
  rate: number;
  cpuClient: number;
  cpuServer: number;
}

async function clientMain(args: Args): Promise<void> {
  const [port, clientPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const child: ChildProcess = fork(
    fileURLToPath(import.meta.url),
    [...process.argv.slice(2), "--server", String(port), "--client-port", String(clientPort), "--ws-port", String(wsPort)],
    { execArgv: ["--expose-gc"] },
  );
  const limit = setTimeout(() => {
    child.kill("SIGKILL");
    console.error("stream-sweep: run limit reached");
    process.exit(2);
  }, RUN_LIMIT_MS);
  limit.unref();
  await new Promise((resolve) => child.once("message", resolve));
  const usage = (gc = false): Promise<ChildUsage> =>
    new Promise((resolve) => {
      child.once("message", (m) => resolve(m as ChildUsage));
      child.send({ type: "usage", gc } satisfies ToChild);
    });

  const manager = startManager(clientPort, port, args);
  await manager.listen();
  const conn: Connection = manager.connection(address(port));
  await conn.waitConnected({ signal: AbortSignal.timeout(15_000) });
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let onWsMessage = (): void => {};
  ws.on("message", () => onWsMessage());

  const cpuNow = (): number => {
    const c = process.cpuUsage();
    return c.user + c.system;
  };

  async function phase(mode: "ws" | "bidi" | "source", capIndex: number, size: number, durationMs: number): Promise<Phase> {
    const payload = new Uint8Array(size).fill(7);
    let ops = 0;
    let done = false;
    const s0 = await usage();
    const c0 = cpuNow();
    const t0 = performance.now();
    const timer = setTimeout(() => (done = true), durationMs);
    if (mode === "ws") {
      await new Promise<void>((resolve) => {
        let sent = 0;
        let stopped = false;
        const pump = (): void => {
          while (!stopped) {
            if (done) {
              stopped = true;
              break;
            }
            sent++;
            if (ws.bufferedAmount + size >= HIGH_WATER) {
              ws.send(payload, pump);
              return;
            }
            ws.send(payload);
          }
          if (ops === sent) resolve();
        };
        onWsMessage = () => {
          ops++;
          if (stopped && ops === sent) resolve();
        };
        pump();
      });
    } else if (mode === "bidi") {
      const stream = await conn.newStream(ID.bidi + capIndex);
      const writer = stream.requests!;
      const pump = (async () => {
        while (!done) await writer.send(payload);
        writer.close();
      })();
      for await (const _msg of stream.responses) ops++;
      await pump;
    } else {
      const request = new Uint8Array(4);
      new DataView(request.buffer).setUint32(0, size, true);
      const stream = await conn.newStream(ID.source + capIndex, request);
      for await (const _msg of stream.responses) {
        ops++;
        if (done) break;
      }
    }
    clearTimeout(timer);
    const elapsed = performance.now() - t0;
    const cpuClient = cpuNow() - c0;
    const s1 = await usage();
    return { rate: (ops * 1000) / elapsed, cpuClient: cpuClient / ops, cpuServer: (s1.cpuUs - s0.cpuUs) / ops };
  }

  /** Bytes one stalled stream of capacity `caps[capIndex]` holds on the receiving side. */
  async function heldPerStream(capIndex: number, size: number): Promise<number> {
    const capacity = args.caps[capIndex]!;
    const payload = new Uint8Array(size).fill(7);
    const sync = (): Promise<Uint8Array> => conn.request(ID.sync, payload);
    const streams = [];
    for (let i = 0; i < args.streams; i++) streams.push(await conn.newStream(ID.sink + capIndex));
    await sync();
    const empty = await usage(true);
    for (const s of streams) for (let k = 0; k < capacity; k++) await s.requests!.send(payload);
    await sync(); // frames are handled in order: every message sent above is queued on the server
    const full = await usage(true);
    for (const s of streams) s.cancel();
    await sync();
    return (full.mem - empty.mem) / args.streams;
  }

  const results = new Map<string, Phase[]>();
  const key = (mode: string, size: number, cap?: number): string => `${mode} ${size}${cap === undefined ? "" : ` ${cap}`}`;
  const modes = ["ws", "bidi", "source"] as const;
  const each = async (durationMs: number, record: boolean): Promise<void> => {
    for (const size of args.sizes) {
      for (const mode of modes) {
        const caps = mode === "ws" ? [undefined] : args.caps;
        for (let i = 0; i < caps.length; i++) {
          const r = await phase(mode, i, size, durationMs);
          if (!record) continue;
          const k = key(mode, size, caps[i]);
          results.set(k, [...(results.get(k) ?? []), r]);
        }
      }
    }
  };
  await each(150, false); // warm-up
  for (let r = 0; r < args.rounds; r++) await each(args.durationMs, true);
  const held = new Map<string, number>();
  for (const size of args.sizes) for (let i = 0; i < args.caps.length; i++) held.set(key("held", size, args.caps[i]), await heldPerStream(i, size));

  const best = (k: string): number => Math.max(...(results.get(k) ?? []).map((p) => p.rate));
  const median = (k: string, f: (p: Phase) => number): number => {
    const v = (results.get(k) ?? []).map(f).sort((a, b) => a - b);
    return v[(v.length - 1) >> 1] ?? NaN;
  };
  const n = (x: number): string => Math.round(x).toLocaleString("en-US");
  const kib = (x: number): string => (x / 1024).toFixed(x < 10 * 1024 ? 1 : 0);
  console.log(`stream-sweep: ${args.rounds} rounds × ${args.durationMs} ms, ${args.streams} streams for memory, options ${JSON.stringify(args.opts)}`);
  for (const size of args.sizes) {
    const ws = best(key("ws", size));
    console.log(`\n${size} B messages; raw ws one-stream echo: ${n(ws)} msgs/s, CPU ${median(key("ws", size), (p) => p.cpuClient).toFixed(2)} + ${median(key("ws", size), (p) => p.cpuServer).toFixed(2)} µs/msg\n`);
    console.log("| capacity | bidi msgs/s | vs ws | CPU µs/msg client + server | server stream msgs/s | CPU µs/msg | capacity × size, KiB | held by a stalled stream, KiB (measured) |");
    console.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const cap of args.caps) {
      const b = key("bidi", size, cap);
      const s = key("source", size, cap);
      console.log(
        `| ${cap} | ${n(best(b))} | ${(best(b) / ws).toFixed(2)}× | ${median(b, (p) => p.cpuClient).toFixed(2)} + ${median(b, (p) => p.cpuServer).toFixed(2)} | ${n(best(s))} | ${median(s, (p) => p.cpuClient).toFixed(2)} + ${median(s, (p) => p.cpuServer).toFixed(2)} | ${kib(cap * size)} | ${kib(held.get(key("held", size, cap))!)} |`,
      );
    }
  }
  ws.terminate();
  child.send({ type: "exit" } satisfies ToChild);
  await manager.close();
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2));
if (args.server !== undefined) await serverMain(args, args.server);
else await clientMain(args);

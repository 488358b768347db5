/**
 * A small fault-injecting TCP proxy for tests, after Toxiproxy's model: it listens on
 * 127.0.0.1, forwards every connection to a target, and applies "toxics" to the bytes in
 * each direction (upstream = client to target, downstream = target to client):
 *
 * - latency:   each chunk is delayed by `latencyMs` ± `jitterMs` (uniform); order is kept
 *              (a chunk never overtakes the one before it, as on a TCP stream).
 * - bandwidth: at most `bytesPerSecond` leave in each direction (a chunk is sent once the
 *              previous bytes had their time on the wire).
 * - slicer:    chunks are cut into pieces of `sliceBytes` (± half), `sliceDelayMs` apart,
 *              to exercise readers of partial frames.
 * - timeout:   `timeout(ms)`: every byte is dropped from now on; after `ms` (0 = never) the
 *              connections are closed.
 * - reset:     `resetPeers()`: every open connection is reset (TCP RST) on both sides.
 *
 * Memory is bounded: a direction with more than `maxPendingBytes` waiting stops reading its
 * source (TCP backpressure), so a slow toxic slows the sender instead of buffering.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";

export interface Toxics {
  latencyMs?: number;
  jitterMs?: number;
  bytesPerSecond?: number;
  sliceBytes?: number;
  sliceDelayMs?: number;
}

export interface FaultProxyOptions {
  /** Where to forward. */
  target: { host: string; port: number };
  /** Toxics of both directions unless `upstream` / `downstream` say otherwise. */
  toxics?: Toxics;
  upstream?: Toxics;
  downstream?: Toxics;
  /** Bytes waiting in one direction before its source is paused. Default 256 KiB. */
  maxPendingBytes?: number;
}

/** One direction of one proxied connection. */
class Pipe {
  private readonly queue: { at: number; data: Buffer }[] = [];
  private pending = 0;
  private lastAt = 0;
  private wireFreeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  dropping = false;
  /** Bytes delivered (after toxics). */
  delivered = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly toxics: () => Toxics,
    private readonly maxPending: number,
  ) {
    from.on("data", (chunk: Buffer) => this.push(chunk));
    from.on("end", () => this.enqueueEnd());
  }

  private endQueued = false;

  private push(chunk: Buffer): void {
    if (this.dropping) return;
    const t = this.toxics();
    const pieces: Buffer[] = [];
    if (t.sliceBytes !== undefined && t.sliceBytes > 0) {
      for (let off = 0; off < chunk.length; ) {
        const size = Math.max(1, Math.round(t.sliceBytes * (0.5 + Math.random())));
        pieces.push(chunk.subarray(off, off + size));
        off += size;
      }
    } else {
      pieces.push(chunk);
    }
    const now = performance.now();
    for (const [i, piece] of pieces.entries()) {
      const jitter = t.jitterMs ? (Math.random() * 2 - 1) * t.jitterMs : 0;
      let at = now + Math.max(0, (t.latencyMs ?? 0) + jitter) + i * (t.sliceDelayMs ?? 0);
      at = Math.max(at, this.lastAt); // never overtake
      if (t.bytesPerSecond !== undefined && t.bytesPerSecond > 0) {
        at = Math.max(at, this.wireFreeAt);
        this.wireFreeAt = at + (piece.length / t.bytesPerSecond) * 1000;
        at = this.wireFreeAt; // the last byte has left
      }
      this.lastAt = at;
      this.queue.push({ at, data: piece });
      this.pending += piece.length;
    }
    if (this.pending > this.maxPending) this.from.pause();
    this.schedule();
  }

  private enqueueEnd(): void {
    this.endQueued = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const next = this.queue[0];
    if (next === undefined) {
      if (this.endQueued && !this.to.destroyed) this.to.end();
      return;
    }
    this.timer = setTimeout(() => this.flush(), Math.max(0, next.at - performance.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now + 1) {
      const { data } = this.queue.shift()!;
      this.pending -= data.length;
      if (!this.dropping && !this.to.destroyed) {
        this.to.write(data);
        this.delivered += data.length;
      }
    }
    if (this.pending <= this.maxPending / 2 && this.from.isPaused()) this.from.resume();
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.pending = 0;
  }
}

export class FaultProxy {
  private readonly server: Server;
  private readonly conns = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  private timeoutTimer: NodeJS.Timeout | undefined;
  private dropping = false;
  /** Connections accepted so far. */
  accepted = 0;
  up: Toxics;
  down: Toxics;

  private constructor(private readonly options: FaultProxyOptions) {
    this.up = { ...options.toxics, ...options.upstream };
    this.down = { ...options.toxics, ...options.downstream };
    this.server = createServer((client) => this.onClient(client));
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Changes the toxics of both directions (for connections open now and later). */
  set(toxics: Toxics): void {
    this.up = { ...toxics };
    this.down = { ...toxics };
  }

  private onClient(client: Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const upstream = connect(this.options.target.port, this.options.target.host);
    upstream.setNoDelay(true);
    const max = this.options.maxPendingBytes ?? 256 * 1024;
    const pipes = [new Pipe(client, upstream, () => this.up, max), new Pipe(upstream, client, () => this.down, max)];
    for (const p of pipes) p.dropping = this.dropping;
    const entry = { client, upstream, pipes };
    this.conns.add(entry);
    const close = (): void => {
      if (!this.conns.delete(entry)) return;
      for (const p of pipes) p.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  }

  /** Toxiproxy's `timeout`: drop every byte from now on; close the connections after `ms` (0: never). */
  timeout(ms: number): void {
    this.dropping = true;
    for (const c of this.conns) for (const p of c.pipes) p.dropping = true;
    if (ms > 0) this.timeoutTimer = setTimeout(() => this.closeConnections(), ms);
  }

  /** Ends a `timeout`: bytes flow again (on connections still open, and new ones). */
  restore(): void {
    clearTimeout(this.timeoutTimer);
    this.dropping = false;
    for (const c of this.conns) for (const p of c.pipes) p.dropping = false;
  }

  /** Toxiproxy's `reset_peer`: every open connection gets a TCP RST, both sides. */
  resetPeers(): void {
    for (const c of this.conns) {
      c.client.resetAndDestroy();
      c.upstream.resetAndDestroy();
    }
  }

  /** Open proxied connections. */
  get connections(): number {
    return this.conns.size;
  }

  private closeConnections(): void {
    for (const c of [...this.conns]) {
      c.client.destroy();
      c.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timeoutTimer);
    this.closeConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

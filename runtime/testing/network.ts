/**
 * The simulated network of `tsgrid/testing`: byte streams between named hosts, with the
 * failure modes of TCP between servers.
 *
 * Each link is a pair of Duplex streams (what a socket is to the Manager) joined by two
 * one-way pipes. A pipe behaves like a TCP connection's one direction: bytes arrive in order
 * and never go missing in the middle; what cannot pass (a partition, a frozen peer) waits in
 * the pipe, up to `bufferBytes`, and writes beyond that wait too (the sender's socket buffer
 * is full), so the Manager's own backpressure limits apply as on a real socket. Delivery
 * goes through `setTimeout`/`setImmediate`, so the same code runs on real or virtual time.
 *
 * Faults:
 * - blocked (partition): a direction passes nothing until healed, then what waited arrives;
 * - black hole: a link passes nothing, ever, and nobody is told (a dead peer, a lost NAT entry);
 * - reset: both ends see the link close at once (a crashed process: its kernel resets it);
 * - shape: delay, jitter (order kept) and bandwidth per direction;
 * - stall: a host takes nothing in and sends nothing out until resumed (a frozen process).
 */
import { Duplex } from "node:stream";
import { AbortError, DisconnectedError } from "../errors.js";
import type { ConnDialer } from "../transport/dialer.js";
import type { Rng } from "./rng.js";

/** How one direction of a link behaves. */
export interface LinkShape {
  /** One-way delay, ms. Default 0 (delivered on the next turn of the event loop). */
  delayMs: number;
  /** Extra delay, uniformly random in [0, jitterMs]; bytes stay in order. Default 0. */
  jitterMs: number;
  /** Bytes per second, 0 = unlimited. Default 0. */
  bandwidthBytesPerSec: number;
}

export const DEFAULT_LINK_SHAPE: Readonly<LinkShape> = Object.freeze({ delayMs: 0, jitterMs: 0, bandwidthBytesPerSec: 0 });
/** Bytes one direction of a link holds in flight before writes wait (like a socket buffer). */
export const DEFAULT_LINK_BUFFER_BYTES = 256 * 1024;

/** Whether a host's process runs, crashed (its kernel refuses connections) or is powered off (silence). */
export type HostState = "up" | "crashed" | "off";

type Item = { kind: "data"; chunk: Buffer; at: number } | { kind: "end"; at: number } | { kind: "reset"; error: boolean; at: number };

const key = (from: string, to: string): string => `${from}\u0000${to}`;

function resetError(): Error {
  return Object.assign(new Error("read ECONNRESET (simulated)"), { code: "ECONNRESET" });
}

/** One direction of a link. */
class Pipe {
  private readonly queue: Item[] = [];
  private queuedBytes = 0;
  /** Write callbacks waiting for room (the sender's buffer is full). */
  private readonly waiting: (() => void)[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  /** When the last queued byte has left the sender at the link's bandwidth. */
  private busyUntil = 0;
  private lastAt = 0;
  /** Nothing more goes through: the receiving end is gone. */
  private finished = false;
  /** Takes nothing new; what is queued still goes (a dead sender's last reset). */
  private sealed = false;

  constructor(
    private readonly net: SimNetwork,
    readonly link: SimLink,
    readonly from: string,
    readonly to: string,
    /** The end that receives what this pipe carries. */
    private readonly target: () => Duplex,
  ) {}

  /** Queues a chunk; `done` is called once the chunk fits in the sender's buffer. */
  write(chunk: Buffer, done: () => void): void {
    if (this.finished || this.sealed) return done();
    const at = this.arrival(chunk.byteLength);
    this.queue.push({ kind: "data", chunk, at });
    this.queuedBytes += chunk.byteLength;
    if (this.queuedBytes <= this.net.bufferBytes) done();
    else this.waiting.push(done);
    this.pump();
  }

  end(): void {
    if (this.finished || this.sealed) return;
    this.queue.push({ kind: "end", at: this.arrival(0) });
    this.pump();
  }

  /** The sender's socket is gone: the receiver learns it after what was sent before. */
  reset(error: boolean): void {
    if (this.finished || this.sealed) return;
    this.queue.push({ kind: "reset", error, at: this.arrival(0) });
    this.pump();
  }

  /** The sender died: what it had queued is lost, a reset follows, then nothing more. */
  crash(): void {
    if (this.finished) return;
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const done of this.waiting.splice(0)) done();
    this.reset(true);
    this.sealed = true;
  }

  /** Drops everything and carries nothing more (the receiving end is gone). */
  finish(): void {
    this.finished = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.cancelTimers();
    for (const done of this.waiting.splice(0)) done();
  }

  /** Re-evaluates what can be delivered now (after a heal, a resume, a shape change). */
  pump(): void {
    if (this.finished || this.queue.length === 0 || !this.net.canPass(this)) {
      this.cancelTimers();
      return;
    }
    const wait = this.queue[0]!.at - this.net.now();
    if (wait <= 0) {
      if (this.immediate === undefined) {
        if (this.timer !== undefined) this.cancelTimers();
        this.immediate = setImmediate(this.deliver);
      }
    } else if (this.timer === undefined) {
      if (this.immediate !== undefined) this.cancelTimers();
      this.timer = setTimeout(this.deliver, Math.ceil(wait));
    }
  }

  private cancelTimers(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private readonly deliver = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    const now = this.net.now();
    while (!this.finished && this.queue.length > 0 && this.queue[0]!.at <= now && this.net.canPass(this)) {
      const item = this.queue.shift()!;
      const target = this.target();
      if (item.kind === "data") {
        this.queuedBytes -= item.chunk.byteLength;
        while (this.waiting.length > 0 && this.queuedBytes <= this.net.bufferBytes) this.waiting.shift()!();
        if (!target.destroyed) target.push(item.chunk);
      } else if (item.kind === "end") {
        if (!target.destroyed) target.push(null);
      } else {
        this.link.closeEnd(target, item.error);
      }
    }
    this.pump();
  };

  private arrival(bytes: number): number {
    const now = this.net.now();
    const shape = this.net.shapeOf(this.from, this.to);
    let sent = now;
    if (shape.bandwidthBytesPerSec > 0) {
      sent = Math.max(now, this.busyUntil) + (bytes * 1000) / shape.bandwidthBytesPerSec;
      this.busyUntil = sent;
    }
    const jitter = shape.jitterMs > 0 ? this.net.rng.next() * shape.jitterMs : 0;
    // In order, as TCP delivers: never before what was sent earlier.
    const at = Math.max(this.lastAt, sent + shape.delayMs + jitter);
    this.lastAt = at;
    return at;
  }
}

/** One connection between two hosts: `dialer` holds `clientEnd`, `listener` holds `serverEnd`. */
export class SimLink {
  readonly clientEnd: Duplex;
  readonly serverEnd: Duplex;
  readonly toListener: Pipe;
  readonly toDialer: Pipe;
  /** Passes nothing, ever (a dead peer); closing one end is not seen by the other. */
  blackholed = false;
  private closed = 0;

  constructor(
    private readonly net: SimNetwork,
    readonly dialer: string,
    readonly listener: string,
  ) {
    this.toListener = new Pipe(net, this, dialer, listener, () => this.serverEnd);
    this.toDialer = new Pipe(net, this, listener, dialer, () => this.clientEnd);
    this.clientEnd = this.makeEnd(this.toListener, this.toDialer);
    this.serverEnd = this.makeEnd(this.toDialer, this.toListener);
  }

  /** Whether `host` is one end of this link. */
  touches(host: string): boolean {
    return this.dialer === host || this.listener === host;
  }

  /** The end held by `host`. */
  endOf(host: string): Duplex {
    return host === this.dialer ? this.clientEnd : this.serverEnd;
  }

  /** The pipe that carries what `host` sends. */
  pipeFrom(host: string): Pipe {
    return host === this.dialer ? this.toListener : this.toDialer;
  }

  pipes(): [Pipe, Pipe] {
    return [this.toListener, this.toDialer];
  }

  /** Closes `end` as the network tells it: with ECONNRESET (`error`) or as a plain close. */
  closeEnd(end: Duplex, error: boolean): void {
    if (end.destroyed) return;
    end.destroy(error ? resetError() : undefined);
  }

  private makeEnd(out: Pipe, inbound: Pipe): Duplex {
    const end: Duplex = new Duplex({
      read() {},
      write: (chunk: Buffer, _encoding, callback) => out.write(chunk, () => callback()),
      writev: undefined,
      final: (callback) => {
        out.end();
        callback();
      },
      destroy: (err, callback) => {
        // Nothing more arrives here; the peer learns of the close after what was sent.
        inbound.finish();
        out.reset(false);
        if (++this.closed === 2) this.net.forget(this);
        callback(err);
      },
    });
    // A reset may come before the Manager or ws has put its own listener on the stream (a
    // dial still settling): the error then also ends in 'close', which they do watch.
    end.on("error", () => {});
    return end;
  }
}

/** A dial waiting for its SYN to get through (a partition, a powered-off host). */
interface PendingDial {
  from: string;
  to: string;
  signal: AbortSignal;
  resolve(stream: Duplex): void;
  reject(err: unknown): void;
  onAbort(): void;
}

export interface SimNetworkOptions {
  now: () => number;
  rng: Rng;
  bufferBytes?: number;
  shape?: Partial<LinkShape>;
}

/** The in-memory network: hosts, the links between them, and the faults in force. */
export class SimNetwork {
  readonly now: () => number;
  readonly rng: Rng;
  readonly bufferBytes: number;
  readonly defaultShape: LinkShape;
  private readonly hosts = new Map<string, { state: HostState; stalls: number; accept: ((stream: Duplex) => void) | undefined }>();
  private readonly links = new Set<SimLink>();
  /** Directed pairs that pass nothing, with how many faults block each. */
  private readonly blocked = new Map<string, number>();
  /** Shapes in force per directed pair (they add up: delays sum, the lowest bandwidth wins). */
  private readonly shapes = new Map<string, LinkShape[]>();
  private readonly pending = new Set<PendingDial>();
  /** Accepts that wait for a stalled host to resume. */
  private readonly deferredAccepts = new Map<string, { link: SimLink }[]>();
  /** Links opened since the network was made. */
  linksOpened = 0;

  constructor(options: SimNetworkOptions) {
    this.now = options.now;
    this.rng = options.rng;
    this.bufferBytes = options.bufferBytes ?? DEFAULT_LINK_BUFFER_BYTES;
    this.defaultShape = { ...DEFAULT_LINK_SHAPE, ...options.shape };
  }

  // ---- hosts ------------------------------------------------------------------------------

  addHost(name: string): void {
    if (this.hosts.has(name)) throw new RangeError(`host ${name} exists already`);
    this.hosts.set(name, { state: "crashed", stalls: 0, accept: undefined });
  }

  /** The host's process is up and takes incoming streams with `accept`. */
  bringUp(name: string, accept: (stream: Duplex) => void): void {
    const host = this.host(name);
    host.state = "up";
    host.accept = accept;
    this.changed();
  }

  /**
   * The host's process dies. `crashed`: its kernel resets every link and refuses new ones.
   * `off`: the machine is gone: its links go silent and dials to it hang.
   * Its own ends are closed without the peers hearing of it beyond that.
   */
  takeDown(name: string, how: "crashed" | "off"): void {
    const host = this.host(name);
    host.state = how;
    host.accept = undefined;
    this.deferredAccepts.delete(name);
    for (const link of [...this.links]) {
      if (!link.touches(name)) continue;
      // crashed: the kernel resets the link (what the process had queued is lost; a
      // partition delays the reset like any packet). off: silence, for good.
      if (how === "off") link.blackholed = true;
      else link.pipeFrom(name).crash();
      link.endOf(name).destroy(); // the dead process's end: its own close goes nowhere
    }
    this.changed();
  }

  stateOf(name: string): HostState {
    return this.host(name).state;
  }

  /** Freezes a host's traffic (counted: as many `resume`s as `stall`s). */
  stall(name: string): void {
    this.host(name).stalls++;
    this.changed();
  }

  resume(name: string): void {
    const host = this.host(name);
    if (host.stalls === 0) return;
    host.stalls--;
    if (host.stalls === 0 && host.state === "up") {
      for (const { link } of this.deferredAccepts.get(name) ?? []) this.accept(name, link);
      this.deferredAccepts.delete(name);
    }
    this.changed();
  }

  isStalled(name: string): boolean {
    return this.host(name).stalls > 0;
  }

  // ---- faults -----------------------------------------------------------------------------

  /** Blocks `from` → `to` (counted: as many `unblock`s as `block`s). */
  block(from: string, to: string): void {
    this.host(from);
    this.host(to);
    const k = key(from, to);
    this.blocked.set(k, (this.blocked.get(k) ?? 0) + 1);
    this.changed();
  }

  unblock(from: string, to: string): void {
    const k = key(from, to);
    const n = this.blocked.get(k) ?? 0;
    if (n <= 1) this.blocked.delete(k);
    else this.blocked.set(k, n - 1);
    this.changed();
  }

  /** Removes every block. */
  unblockAll(): void {
    this.blocked.clear();
    this.changed();
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(key(from, to));
  }

  /** Adds a shape on `from` → `to`; returns its removal. */
  addShape(from: string, to: string, shape: Partial<LinkShape>): () => void {
    this.host(from);
    this.host(to);
    const k = key(from, to);
    const entry: LinkShape = { delayMs: shape.delayMs ?? 0, jitterMs: shape.jitterMs ?? 0, bandwidthBytesPerSec: shape.bandwidthBytesPerSec ?? 0 };
    for (const [name, value] of Object.entries(entry)) {
      if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
    }
    const list = this.shapes.get(k) ?? [];
    list.push(entry);
    this.shapes.set(k, list);
    return () => {
      const at = list.indexOf(entry);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && this.shapes.get(k) === list) this.shapes.delete(k);
    };
  }

  shapeOf(from: string, to: string): LinkShape {
    const list = this.shapes.get(key(from, to));
    if (list === undefined) return this.defaultShape;
    const out = { ...this.defaultShape };
    for (const s of list) {
      out.delayMs += s.delayMs;
      out.jitterMs += s.jitterMs;
      if (s.bandwidthBytesPerSec > 0) {
        out.bandwidthBytesPerSec = out.bandwidthBytesPerSec === 0 ? s.bandwidthBytesPerSec : Math.min(out.bandwidthBytesPerSec, s.bandwidthBytesPerSec);
      }
    }
    return out;
  }

  /** Closes every link between `a` and `b` at once; both ends see a reset. Returns how many. */
  resetLinks(a: string, b: string): number {
    let n = 0;
    for (const link of this.between(a, b)) {
      n++;
      link.blackholed = true; // nothing more passes, not even the ends' own closes
      for (const pipe of link.pipes()) pipe.finish();
      link.closeEnd(link.clientEnd, true);
      link.closeEnd(link.serverEnd, true);
    }
    return n;
  }

  /** Every link between `a` and `b` goes silent for good, and neither end is told. Returns how many. */
  blackholeLinks(a: string, b: string): number {
    let n = 0;
    for (const link of this.between(a, b)) {
      n++;
      link.blackholed = true;
      for (const pipe of link.pipes()) pipe.pump();
    }
    return n;
  }

  /** Open links between `a` and `b` (either direction). */
  between(a: string, b: string): SimLink[] {
    return [...this.links].filter((l) => (l.dialer === a && l.listener === b) || (l.dialer === b && l.listener === a));
  }

  /** Open links, for inspection. */
  openLinks(): readonly SimLink[] {
    return [...this.links];
  }

  // ---- delivery ---------------------------------------------------------------------------

  canPass(pipe: Pipe): boolean {
    if (pipe.link.blackholed) return false;
    const from = this.hosts.get(pipe.from);
    const to = this.hosts.get(pipe.to);
    if (from === undefined || to === undefined) return false;
    if (from.stalls > 0 || to.stalls > 0) return false;
    return !this.blocked.has(key(pipe.from, pipe.to));
  }

  forget(link: SimLink): void {
    this.links.delete(link);
  }

  // ---- dialling ---------------------------------------------------------------------------

  /** The ConnDialer of host `from`. */
  dialerFor(from: string): ConnDialer {
    return (address, signal) =>
      new Promise<Duplex>((resolve, reject) => {
        if (signal.aborted) return reject(new AbortError(`dial of ${address} aborted`, { cause: signal.reason }));
        if (!this.hosts.has(address)) return reject(new DisconnectedError(`cannot dial ${address}: no such host in the simulated network`));
        const dial: PendingDial = {
          from,
          to: address,
          signal,
          resolve,
          reject,
          onAbort: () => {
            this.pending.delete(dial);
            reject(new AbortError(`dial of ${address} aborted`, { cause: signal.reason }));
          },
        };
        signal.addEventListener("abort", dial.onAbort, { once: true });
        this.pending.add(dial);
        this.tryDial(dial);
      });
  }

  private tryDial(dial: PendingDial): void {
    const to = this.host(dial.to);
    // A SYN or its answer is lost: the dial waits (TCP retries) until the way is clear.
    if (this.isBlocked(dial.from, dial.to) || this.isBlocked(dial.to, dial.from) || to.state === "off") return;
    this.pending.delete(dial);
    dial.signal.removeEventListener("abort", dial.onAbort);
    const rtt = this.shapeOf(dial.from, dial.to).delayMs + this.shapeOf(dial.to, dial.from).delayMs;
    const settle = (): void => {
      if (dial.signal.aborted) return dial.reject(new AbortError(`dial of ${dial.to} aborted`, { cause: dial.signal.reason }));
      const target = this.host(dial.to);
      if (target.state !== "up") {
        return dial.reject(
          Object.assign(new DisconnectedError(`cannot dial ${dial.to}: connect ECONNREFUSED (simulated)`), { errno: "ECONNREFUSED" }),
        );
      }
      const link = new SimLink(this, dial.from, dial.to);
      this.links.add(link);
      this.linksOpened++;
      // A frozen process's kernel still accepts; the process sees the stream when it resumes.
      if (target.stalls > 0) {
        const list = this.deferredAccepts.get(dial.to) ?? [];
        list.push({ link });
        this.deferredAccepts.set(dial.to, list);
      } else {
        this.accept(dial.to, link);
      }
      dial.resolve(link.clientEnd);
    };
    if (rtt > 0) setTimeout(settle, Math.ceil(rtt));
    else setImmediate(settle);
  }

  private accept(name: string, link: SimLink): void {
    const host = this.host(name);
    if (host.state !== "up" || host.accept === undefined || link.serverEnd.destroyed) {
      link.closeEnd(link.clientEnd, true);
      return;
    }
    host.accept(link.serverEnd);
  }

  /** Something changed: waiting dials and held bytes may go through now. */
  private changed(): void {
    for (const dial of [...this.pending]) this.tryDial(dial);
    for (const link of this.links) for (const pipe of link.pipes()) pipe.pump();
  }

  private host(name: string): { state: HostState; stalls: number; accept: ((stream: Duplex) => void) | undefined } {
    const host = this.hosts.get(name);
    if (host === undefined) throw new RangeError(`${name} is not a host of this simulated network`);
    return host;
  }

  /** Ends every link and waiting dial (the cluster is closing). */
  shutdown(): void {
    for (const dial of [...this.pending]) {
      this.pending.delete(dial);
      dial.signal.removeEventListener("abort", dial.onAbort);
      dial.reject(new DisconnectedError(`cannot dial ${dial.to}: the simulated network is shut down`));
    }
    for (const link of [...this.links]) {
      link.blackholed = true;
      link.clientEnd.destroy();
      link.serverEnd.destroy();
    }
    this.links.clear();
  }
}

/** Shared helpers of the cluster tests. */
import { createServer } from "node:net";
import { Duplex } from "node:stream";
import type { Logger } from "../../runtime/types.js";

/**
 * Free TCP ports on 127.0.0.1: bind port 0, read the port, close. A Manager's address is
 * its name, so it cannot listen on port 0 and learn its address afterwards.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  // All bound at once, so the ports are distinct.
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Two Duplex streams joined in memory, like the two ends of a socket. `blackhole()` makes
 * the link silently drop everything from then on in both directions: a half-open socket.
 */
export class MemoryLink {
  readonly a: Duplex;
  readonly b: Duplex;
  private dropping = false;

  constructor() {
    const make = (other: () => Duplex): Duplex =>
      new Duplex({
        read() {},
        write: (chunk: Buffer, _enc, cb) => {
          const peer = other();
          if (!this.dropping && !peer.destroyed) peer.push(chunk);
          cb();
        },
        final: (cb) => {
          const peer = other();
          if (!this.dropping && !peer.destroyed) peer.push(null);
          cb();
        },
        destroy: (err, cb) => {
          const peer = other();
          if (!this.dropping && !peer.destroyed) peer.destroy();
          cb(err);
        },
      });
    this.a = make(() => this.b);
    this.b = make(() => this.a);
  }

  blackhole(): void {
    this.dropping = true;
  }
}

export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A Logger that keeps what it is told, for assertions. */
export function recordingLogger(): Logger & { records: LogRecord[]; text(): string } {
  const records: LogRecord[] = [];
  const at =
    (level: LogRecord["level"]) =>
    (message: string, fields?: Record<string, unknown>): void => {
      records.push({ level, message, fields });
    };
  return {
    records,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    text: () => records.map((r) => `${r.level} ${r.message} ${JSON.stringify(r.fields ?? {})}`).join("\n"),
  };
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes (then throws). */
export async function until(condition: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

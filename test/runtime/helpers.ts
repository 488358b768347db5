/** Two Connections joined over a real ws WebSocket on 127.0.0.1, or in memory. */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { Connection } from "../../runtime/connection/connection.js";
import type { ConnectionOptions } from "../../runtime/connection/options.js";
import { HandlerRegistry } from "../../runtime/handlers/handler-registry.js";
import { silentLogger } from "../../runtime/logger.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import { wsTransport } from "../../runtime/transport/ws-transport.js";

export interface Pair {
  a: Connection;
  b: Connection;
  ra: HandlerRegistry;
  rb: HandlerRegistry;
  close(): Promise<void>;
}

export type TransportKind = "ws" | "memory";
export const transports: TransportKind[] = ["ws", "memory"];

export async function makePair(kind: TransportKind, options?: Partial<ConnectionOptions>): Promise<Pair> {
  const ra = new HandlerRegistry();
  const rb = new HandlerRegistry();
  const opts = { logger: silentLogger, ...options };
  const a = new Connection({ local: "a", remote: "b", handlers: ra, options: opts });
  const b = new Connection({ local: "b", remote: "a", handlers: rb, options: opts });
  if (kind === "memory") {
    const [ta, tb] = memoryTransportPair();
    a.attach(ta);
    b.attach(tb);
    return {
      a,
      b,
      ra,
      rb,
      close: async () => {
        a.close();
        b.close();
      },
    };
  }
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await once(wss, "listening");
  const port = (wss.address() as AddressInfo).port;
  const accepted = once(wss, "connection");
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await once(client, "open");
  const [server] = (await accepted) as [WebSocket];
  a.attach(wsTransport(client));
  b.attach(wsTransport(server));
  return {
    a,
    b,
    ra,
    rb,
    close: async () => {
      a.close();
      b.close();
      for (const c of wss.clients) c.terminate();
      client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` pass. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

/** A ws server on a loopback port; `close` terminates its clients, then closes it. */
export async function loopbackWss(): Promise<{ wss: WebSocketServer; url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await once(wss, "listening");
  return {
    wss,
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** The two ends of one ws WebSocket over loopback (raw sockets, no Connection). */
export async function wsPair(): Promise<{ client: WebSocket; server: WebSocket; done: () => Promise<void> }> {
  const { wss, url, close } = await loopbackWss();
  const accepted = once(wss, "connection");
  const client = new WebSocket(url, { perMessageDeflate: false });
  await once(client, "open");
  const [server] = (await accepted) as [WebSocket];
  return {
    client,
    server,
    done: async () => {
      client.terminate();
      server.terminate();
      await close();
    },
  };
}

/**
 * The handlers the tsgrid benchmark server registers (shared by the server and the clients
 * so ids cannot drift).
 */
import { DEFAULT_IN_CAPACITY, type HandlerRegistrar, type StreamHandler } from "tsgrid";
import { registerBench } from "../generated/bench.js";

export const H = {
  /** Single: echoes its payload. */
  echo: 1,
  /** Server stream: payload = [u32 count, u32 size]; yields `count` messages of `size` bytes. */
  source: 2,
  /** Bidi stream: echoes every input message. */
  bidiEcho: 3,
  /** Single: held until `release` is called (the memory row's in-flight calls). */
  hold: 4,
  /** Single: releases every held call; answers with how many it released (u32). */
  release: 5,
  /** Single: answers with how many calls are held (u32). */
  heldCount: 6,
  /** `source` and `bidiEcho` with TUNED_STREAM_CAPACITY credits (the rows named "cap32"). */
  sourceTuned: 7,
  bidiEchoTuned: 8,
  // 10, 11, 12: Bench.echoStatus, echoLoad, echoBatch, the typed (generated) handlers: see bench/schemas/bench.grid.ts.
} as const;

/**
 * Stream credits of the tuned stream handlers (both directions): 32, the default before #12,
 * a quarter of the memory per stalled stream; `source` and `bidiEcho` use the defaults a user
 * gets (DEFAULT_OUT_CAPACITY, and DEFAULT_IN_CAPACITY as generated code).
 */
export const TUNED_STREAM_CAPACITY = 32;
/** Safety cap on the messages one `source` stream yields. */
const MAX_SOURCE_MESSAGES = 100_000_000;

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

export function registerBenchHandlers(registry: HandlerRegistrar): void {
  registry.registerSingle(H.echo, (payload) => payload);
  registerBench(registry, { echoStatus: (status) => status, echoLoad: (load) => load, echoBatch: (batch) => batch });

  const source: StreamHandler = async function* (payload, _input, ctx) {
    const view = payload && payload.byteLength >= 8 ? new DataView(payload.buffer, payload.byteOffset, 8) : undefined;
    const count = Math.min(view?.getUint32(0, true) ?? 0, MAX_SOURCE_MESSAGES);
    const msg = new Uint8Array(view?.getUint32(4, true) ?? 32).fill(7);
    for (let i = 0; i < count && !ctx.signal.aborted; i++) yield msg;
  };
  const bidiEcho: StreamHandler = async function* (_payload, input) {
    if (input === undefined) return;
    for await (const msg of input) yield msg;
  };
  registry.registerStream(H.source, source);
  registry.registerStream(H.bidiEcho, bidiEcho, { inCapacity: DEFAULT_IN_CAPACITY });
  registry.registerStream(H.sourceTuned, source, { outCapacity: TUNED_STREAM_CAPACITY });
  registry.registerStream(H.bidiEchoTuned, bidiEcho, { inCapacity: TUNED_STREAM_CAPACITY, outCapacity: TUNED_STREAM_CAPACITY });

  const held: Array<() => void> = [];
  const EMPTY = new Uint8Array(0);
  registry.registerSingle(H.hold, () => new Promise<Uint8Array>((resolve) => held.push(() => resolve(EMPTY))));
  registry.registerSingle(H.release, () => {
    const n = held.length;
    for (const release of held.splice(0)) release();
    return u32(n);
  });
  registry.registerSingle(H.heldCount, () => u32(held.length));
}

export function readU32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
}

export function sourceRequest(count: number, size: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, count, true);
  v.setUint32(4, size, true);
  return b;
}

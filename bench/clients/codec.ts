/**
 * Codec rows: encode+decode of the same small objects with plain msgpackr (useRecords:false),
 * @msgpack/msgpack, JSON, and (when gridgen output exists) the generated validating codec.
 * One operation = one encode plus one decode. No server.
 */
import { decode as mpDecode, encode as mpEncode } from "@msgpack/msgpack";
import { Packr } from "msgpackr";
import type { ClientModule } from "../lib/client-child.js";
import type { Phase } from "../lib/phase.js";
import type { NodeLoad, NodeStatus, StatusBatch } from "../generated/bench.js";
import { generatedCodec } from "./generated-codec.js";

export function sampleObjects(n: number): NodeStatus[] {
  const out: NodeStatus[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: 1000 + i,
      name: `node-${i % 8}`,
      online: i % 3 !== 0,
      load: (i % 100) / 7,
      tags: ["zone-a", i % 2 === 0 ? "ssd" : "hdd"],
      updatedAt: 1_764_000_000_000 + i,
    });
  }
  return out;
}

/** `n` NodeLoad messages (31 B of msgpack each: the typed client's 32 B row). */
export function sampleLoads(n: number): NodeLoad[] {
  return sampleObjects(n).map((s, i) => ({ id: s.id, load: 0.5 + i / 7, online: s.online }));
}

/** `n` StatusBatch messages of 13 NodeStatus each (about 1 KiB of msgpack: the 1 KiB row). */
export function sampleBatches(n: number): StatusBatch[] {
  const statuses = sampleObjects(64);
  const out: StatusBatch[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ from: `node-${i % 8}`, statuses: Array.from({ length: 13 }, (_, k) => statuses[(i + k) & 63]!) });
  }
  return out;
}

interface Codec {
  encode(v: NodeStatus): Uint8Array;
  decode(b: Uint8Array): NodeStatus;
}

/** Operations per batch between two checks of the phase (keeps the clock out of the loop). */
const BATCH = 256;
/** The interleaved comparison with plain msgpackr: slices per codec, and ms per slice. */
const SLICES = 10;
const SLICE_MS = 20;

/** Operations per second of `codec` during one slice of `ms`. */
function slice(codec: Codec, objects: NodeStatus[], ms: number): number {
  const t0 = performance.now();
  let ops = 0;
  let i = 0;
  let sink = 0;
  while (performance.now() - t0 < ms) {
    for (let k = 0; k < BATCH; k++) {
      sink += codec.decode(codec.encode(objects[i]!)).id;
      i = (i + 1) & 63;
    }
    ops += BATCH;
  }
  if (sink === -1) console.log(sink); // keeps the work observable
  return (ops * 1000) / (performance.now() - t0);
}

/**
 * `codec` vs plain msgpackr, alternating short slices in this one process: on a shared machine
 * the load changes between rows, but hardly between two 20 ms slices, so this ratio is far
 * steadier than the ratio of two rows. Median of the slice ratios.
 */
function interleavedRatio(codec: Codec, baseline: Codec, objects: NodeStatus[]): number {
  const ratios: number[] = [];
  for (let n = 0; n < SLICES; n++) ratios.push(slice(codec, objects, SLICE_MS) / slice(baseline, objects, SLICE_MS));
  ratios.sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)]!;
}

export const codecClient: ClientModule = async (ctx) => {
  const which = ctx.str("codec");
  const objects = sampleObjects(64);
  const packr = new Packr({ useRecords: false });
  const plain: Codec = { encode: (v) => packr.pack(v), decode: (b) => packr.unpack(b) as NodeStatus };
  let codec: Codec;
  if (which === "msgpackr") {
    codec = plain;
  } else if (which === "msgpack") {
    codec = { encode: (v) => mpEncode(v), decode: (b) => mpDecode(b) as NodeStatus };
  } else if (which === "json") {
    codec = {
      encode: (v) => Buffer.from(JSON.stringify(v)),
      decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()) as NodeStatus,
    };
  } else if (which === "generated") {
    const g = await generatedCodec();
    if (g === undefined) throw new Error("no generated codec (run gridgen first)");
    codec = g;
  } else throw new Error(`codec: unknown codec ${which}`);

  const size = codec.encode(objects[0]!).length;
  let sink = 0;
  return {
    close: () => {},
    extra: () => ({ bytes: size, "vs msgpackr, interleaved": interleavedRatio(codec, plain, objects) }),
    driver: async (phase: Phase) => {
      let i = 0;
      while (!phase.done) {
        for (let k = 0; k < BATCH; k++) {
          const v = codec.decode(codec.encode(objects[i]!));
          sink += v.id;
          i = (i + 1) & 63;
        }
        phase.ops += BATCH;
      }
    },
  };
};

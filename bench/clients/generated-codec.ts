/** The generated (validating) codec of the benchmark schema (bench/schemas/bench.grid.ts). */
import { NodeStatusCodec, type NodeStatus } from "../generated/bench.js";

export interface ObjectCodec {
  encode(v: NodeStatus): Uint8Array;
  decode(b: Uint8Array): NodeStatus;
}

/** Whether this checkout has the generated codec (the row is skipped otherwise). */
export const GENERATED_CODEC_AVAILABLE: boolean = true;

export async function generatedCodec(): Promise<ObjectCodec | undefined> {
  return NodeStatusCodec;
}

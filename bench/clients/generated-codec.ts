/**
 * The generated codec, when gridgen output exists. Until then this returns undefined and the
 * codec row is skipped.
 */
import type { NodeStatus } from "./codec.js";

export interface ObjectCodec {
  encode(v: NodeStatus): Uint8Array;
  decode(b: Uint8Array): NodeStatus;
}

/** Whether this checkout has the generated codec (the row is skipped otherwise). */
export const GENERATED_CODEC_AVAILABLE: boolean = false;

export async function generatedCodec(): Promise<ObjectCodec | undefined> {
  return undefined;
}

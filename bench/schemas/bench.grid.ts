/**
 * The benchmark's typed service: the typed-client row and the generated-codec row use it.
 */
import type { Service, Single } from "tsgrid/idl";

/** A typical small cluster message: one node's status report (about 80 bytes of msgpack). */
export interface NodeStatus {
  id: number;
  name: string;
  online: boolean;
  load: number;
  tags: string[];
  updatedAt: number;
}

/** What the benchmark server serves, typed. */
export interface Bench extends Service {
  /** Answers with the status it was sent (decoded, validated and re-encoded on the server). */
  echoStatus: Single<10, NodeStatus, NodeStatus>;
}

/**
 * The benchmark's typed service: the typed-client rows and the generated-codec row use it.
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

/** A small cluster message: one node's load (31 bytes of msgpack, the size of the 32 B raw rows). */
export interface NodeLoad {
  id: number;
  load: number;
  online: boolean;
}

/** A larger one: the statuses one node gossips (13 NodeStatus, about 1 KiB of msgpack). */
export interface StatusBatch {
  from: string;
  statuses: NodeStatus[];
}

/** What the benchmark server serves, typed. */
export interface Bench extends Service {
  /** Answers with the status it was sent (decoded, validated and re-encoded on the server). */
  echoStatus: Single<10, NodeStatus, NodeStatus>;
  /** Answers with the load it was sent (decoded, validated and re-encoded). */
  echoLoad: Single<11, NodeLoad, NodeLoad>;
  /** Answers with the batch it was sent (decoded, validated and re-encoded). */
  echoBatch: Single<12, StatusBatch, StatusBatch>;
}
